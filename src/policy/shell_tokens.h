/* The SELECTIVE classifier's reading of a command: shell text (or an argv) split into simple
 * commands and canonical words, the way the classifier's rules see it. Private to policy/. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "airlock/classify.h"

/* One simple command: words[first .. first+n) of the parsed text. */
struct shell_cmd {
        size_t first, n;
        const char *norm; /* canonical words joined by single spaces */
        bool word0_plain; /* the command word had no quotes or backslashes */
        bool active;      /* a substitution, redirection or grouping outside single quotes */
};

struct shell_parsed {
        const char *raw; /* what regex and metachar rules see first: the text or quoted argv */
        size_t raw_len;
        const char *words[CLASSIFY_WORDS_MAX];
        size_t n_words;
        struct shell_cmd cmds[CLASSIFY_CMDS_MAX];
        size_t n_cmds;
        char *buf;     /* canonical words */
        char *normbuf; /* canonical simple commands */
        char *joined;  /* the quoted argv */
};

/* A parse of text of at most text_len bytes (or an argv of that many bytes with its NULs);
 * NULL when out of memory. Free with shell_parsed_free (NULL is a no-op). */
struct shell_parsed *shell_parsed_new(size_t text_len);
void shell_parsed_free(struct shell_parsed *p);
static inline void shell_parsed_freep(struct shell_parsed **p)
{
        shell_parsed_free(*p);
}

/* Characters a shell word may hold without quoting and mean themselves. */
bool shell_char_plain(unsigned char c);

/* Split shell text s[0..len) into p's simple commands and canonical words. NULL on success,
 * else why the text cannot be read (it is then sandboxed). */
const char *shell_tokenize(struct shell_parsed *p, const char *s, size_t len);
/* argv as one simple command, each word written as a shell word that means the same. */
const char *shell_tokenize_argv(struct shell_parsed *p, char *const *argv);
/* Fill each command's norm: its canonical words joined by single spaces. */
void shell_norms_build(struct shell_parsed *p);
/* NULL when s[0..len) may be classified (at most CLASSIFY_TEXT_MAX bytes of strict UTF-8
 * without control characters but tab and newline), else why not. */
const char *shell_text_unreadable(const char *s, size_t len);
