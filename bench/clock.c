/* Core clock estimate for the peak-FLOP figure: a chain of dependent register-register 64-bit
 * adds runs at one add per cycle on x86 cores, so adds / second = cycles / second. (Adds of an
 * immediate are not used: recent Intel cores fold chains of them at rename and would report
 * several times the real clock.) Prints MHz (best of 7). */
#include <stdio.h>
#include <time.h>

int main(void) {
    const unsigned long iters = 100000000UL; /* x 16 adds */
    double best = 1e30;
    for (int rep = 0; rep < 7; rep++) {
        unsigned long x = 0, one = 1;
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (unsigned long i = 0; i < iters; i++) {
            __asm__ volatile(
                "add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\t"
                "add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\t"
                "add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\t"
                "add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0"
                : "+r"(x)
                : "r"(one));
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        double s = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
        if (s < best) best = s;
        if (x != iters * 16) return 1;
    }
    printf("%.0f\n", 16.0 * (double)iters / best / 1e6);
    return 0;
}
