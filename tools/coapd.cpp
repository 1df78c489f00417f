// Placeholder until the CoAP server lands; it exits with a clear message instead of pretending.
#include <cstdio>

int main() {
    std::fprintf(stderr,
                 "coapd: the CoAP server is not implemented yet in this build "
                 "(only the message codec is). See README.md.\n");
    return 2;
}
