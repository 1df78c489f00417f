// Placeholder until the command-line client lands; it exits with a clear message instead of pretending.
#include <cstdio>

int main() {
    std::fprintf(stderr,
                 "coap: the command-line client is not implemented yet in this build "
                 "(only the message codec is). See README.md.\n");
    return 2;
}
