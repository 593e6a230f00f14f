#include "airlock/backend.h"

void backend_free(struct backend *b)
{
        if (b && b->ops && b->ops->free)
                b->ops->free(b);
}
