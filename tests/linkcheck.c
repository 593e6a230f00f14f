/* Links one module library whole with only its declared dependencies (CMakeLists.txt):
 * a call into a module it may not call leaves an undefined symbol. */
int main(void)
{
        return 0;
}
