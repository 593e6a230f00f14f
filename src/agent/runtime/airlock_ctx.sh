# airlock's bash context (docs/contexts.md): run by the context driver (airlock_ctx.py) as a
# persistent shell. Cells come NUL-terminated on fd 4 and run in this shell, so that the working
# directory, variables and functions persist; each cell's status goes back as a JSON line on
# fd 3. Both are closed while the cell runs. An interrupt (SIGINT) ends the cell, not the shell.
exec 5>&3 6<&4 3>&- 4<&-
__airlock_cell() {
        eval "$1"
}
trap 'return 130' INT
while IFS= read -r -d '' __airlock_code <&6; do
        __airlock_cell "$__airlock_code" 5>&- 6<&-
        printf '{"status":%d}\n' "$?" >&5
done
