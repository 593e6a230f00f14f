/* The SELECTIVE classifier's shell tokenizer (see shell_tokens.h). It reads only as much of
 * the shell's grammar as it needs to see through a command; whatever it does not understand
 * marks the command active, and the classifier never vouches for an active command. */
#include "policy/shell_tokens.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/util.h"

struct shell_parsed *shell_parsed_new(size_t text_len)
{
        struct shell_parsed *p = calloc(1, sizeof(*p));

        /* A canonical word is at most twice its text plus a NUL. */
        if (!p || !(p->buf = malloc(2 * text_len + CLASSIFY_WORDS_MAX + 2)) ||
            !(p->normbuf = malloc(2 * text_len + CLASSIFY_WORDS_MAX + 2))) {
                shell_parsed_free(p);
                return NULL;
        }
        return p;
}

void shell_parsed_free(struct shell_parsed *p)
{
        if (!p)
                return;
        free(p->buf);
        free(p->normbuf);
        free(p->joined);
        free(p);
}

/* Characters a shell word may hold without quoting and mean themselves. */
bool shell_char_plain(unsigned char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c >= 0x80 || (c != '\0' && strchr("_./=:,+%@-", c));
}

struct tok {
        struct shell_parsed *p;
        char *o; /* output cursor in p->buf */
        bool in_word;
        bool word_quoted; /* the current word had quotes or backslashes */
        bool cmd_open;
        const char *error;
};

static void tok_word_begin(struct tok *t)
{
        struct shell_parsed *p = t->p;

        if (t->in_word || t->error)
                return;
        if (p->n_words == CLASSIFY_WORDS_MAX) {
                t->error = "more words than the classifier reads";
                return;
        }
        if (!t->cmd_open) {
                if (p->n_cmds == CLASSIFY_CMDS_MAX) {
                        t->error = "more commands than the classifier reads";
                        return;
                }
                p->cmds[p->n_cmds] = (struct shell_cmd){.first = p->n_words};
                t->cmd_open = true;
        }
        p->words[p->n_words] = t->o;
        t->in_word = true;
        t->word_quoted = false;
}

/* Append c to the current word; a quoted character the shell would otherwise interpret is
 * written backslash-escaped, so that the canonical word means what the shell reads. */
static void tok_put(struct tok *t, char c, bool quoted)
{
        tok_word_begin(t);
        if (t->error)
                return;
        if (quoted) {
                t->word_quoted = true;
                if (!shell_char_plain((unsigned char)c))
                        *t->o++ = '\\';
        }
        *t->o++ = c;
}

static void tok_word_end(struct tok *t)
{
        struct shell_parsed *p = t->p;
        struct shell_cmd *cmd = &p->cmds[p->n_cmds];

        if (!t->in_word || t->error)
                return;
        *t->o++ = '\0';
        if (cmd->n == 0)
                cmd->word0_plain = !t->word_quoted;
        cmd->n++;
        p->n_words++;
        t->in_word = false;
}

static void tok_cmd_end(struct tok *t)
{
        tok_word_end(t);
        if (t->cmd_open && !t->error) {
                t->p->n_cmds++;
                t->cmd_open = false;
        }
}

static void tok_active(struct tok *t)
{
        if (t->cmd_open && !t->error)
                t->p->cmds[t->p->n_cmds].active = true;
}

/* Split shell text into simple commands on ; & && | || |& and newlines, honouring single and
 * double quotes and backslashes. Everything else the shell interprets ($ ` < > ( ) { }) is
 * kept in the word and marks the command active. '#' is not a comment here: reading more
 * than the shell runs can only sandbox more. */
const char *shell_tokenize(struct shell_parsed *p, const char *s, size_t len)
{
        enum { ST_NORMAL, ST_SQ, ST_DQ } st = ST_NORMAL;
        struct tok t = {.p = p, .o = p->buf};

        for (size_t i = 0; i < len && !t.error; i++) {
                char c = s[i];

                if (st == ST_SQ) {
                        if (c == '\'')
                                st = ST_NORMAL;
                        else
                                tok_put(&t, c, true);
                        continue;
                }
                if (st == ST_DQ) {
                        if (c == '"') {
                                st = ST_NORMAL;
                        } else if (c == '\\' && i + 1 < len && strchr("$`\"\\\n", s[i + 1])) {
                                i++;
                                if (s[i] != '\n')
                                        tok_put(&t, s[i], true);
                        } else {
                                tok_put(&t, c, true);
                                if (c == '$' || c == '`')
                                        tok_active(&t);
                        }
                        continue;
                }
                switch (c) {
                case '\'':
                case '"':
                        st = c == '\'' ? ST_SQ : ST_DQ;
                        tok_word_begin(&t);
                        t.word_quoted = true;
                        break;
                case '\\':
                        if (i + 1 == len)
                                return "it ends with a backslash";
                        i++;
                        if (s[i] == '\n') {
                                /* A line continuation splices the word: obfuscation at best. */
                                tok_word_begin(&t);
                                t.word_quoted = true;
                        } else {
                                tok_put(&t, s[i], true);
                        }
                        break;
                case ' ':
                case '\t':
                        tok_word_end(&t);
                        break;
                case '\n':
                case ';':
                        tok_cmd_end(&t);
                        break;
                case '&':
                case '|':
                        tok_cmd_end(&t);
                        if (i + 1 < len && (s[i + 1] == c || (c == '|' && s[i + 1] == '&')))
                                i++;
                        break;
                case '$':
                case '`':
                case '<':
                case '>':
                case '(':
                case ')':
                case '{':
                case '}':
                        tok_put(&t, c, false);
                        tok_active(&t);
                        break;
                default:
                        tok_put(&t, c, false);
                        break;
                }
        }
        if (t.error)
                return t.error;
        if (st != ST_NORMAL)
                return "a quote is not closed";
        tok_cmd_end(&t);
        return t.error;
}

/* argv as one simple command, each word written as a shell word that means the same. */
const char *shell_tokenize_argv(struct shell_parsed *p, char *const *argv)
{
        struct tok t = {.p = p, .o = p->buf};

        for (size_t i = 0; argv[i] && !t.error; i++) {
                tok_word_begin(&t);
                for (const char *s = argv[i]; *s && !t.error; s++)
                        tok_put(&t, *s, true);
                t.word_quoted = false; /* literal, not obfuscated */
                tok_word_end(&t);
        }
        tok_cmd_end(&t);
        return t.error;
}

void shell_norms_build(struct shell_parsed *p)
{
        char *o = p->normbuf;

        for (size_t c = 0; c < p->n_cmds; c++) {
                struct shell_cmd *cmd = &p->cmds[c];

                cmd->norm = o;
                for (size_t w = 0; w < cmd->n; w++) {
                        size_t n = strlen(p->words[cmd->first + w]);

                        if (w > 0)
                                *o++ = ' ';
                        memcpy(o, p->words[cmd->first + w], n);
                        o += n;
                }
                *o++ = '\0';
        }
}

/* NULL when s may be classified, else why not. */
const char *shell_text_unreadable(const char *s, size_t len)
{
        if (len > CLASSIFY_TEXT_MAX)
                return "longer than the classifier reads";
        if (!util_utf8_valid(s, len))
                return "not valid UTF-8";
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)s[i];

                if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
                        return "has control characters";
        }
        return NULL;
}
