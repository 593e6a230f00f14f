/* The policy and SELECTIVE rules in force: references taken under the lock that reload.c
 * swaps them under. The leaf of daemon/: every other file of it may call this one. */
#include <errno.h>
#include <stdlib.h>

#include "daemon_private.h"

struct policy *daemon_policy(struct daemon *d)
{
        struct policy *p;

        pthread_rwlock_rdlock(&d->policy_lock);
        p = policy_ref(d->policy);
        pthread_rwlock_unlock(&d->policy_lock);
        return p;
}

struct rules_holder *daemon_rules(struct daemon *ctx)
{
        struct rules_holder *h;

        pthread_rwlock_rdlock(&ctx->policy_lock);
        h = ctx->rules;
        if (h)
                __atomic_add_fetch(&h->refs, 1, __ATOMIC_RELAXED);
        pthread_rwlock_unlock(&ctx->policy_lock);
        return h;
}

void rules_holder_unref(struct rules_holder *h)
{
        if (h && __atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) == 0) {
                classify_rules_free(h->rules);
                free(h);
        }
}

int rules_holder_load(const char *path, struct rules_holder **ret, struct policy_problems *problems,
                      struct al_error *err)
{
        struct rules_holder *h = calloc(1, sizeof(*h));
        int r;

        if (!h)
                return al_err(err, -ENOMEM, "out of memory");
        r = classify_rules_load(path, &h->rules, problems, err);
        if (r < 0) {
                free(h);
                return r;
        }
        h->refs = 1;
        *ret = h;
        return 0;
}
