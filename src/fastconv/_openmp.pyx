# Whether the build has OpenMP, and the thread count it would use by default
# (omp_get_max_threads honours OMP_NUM_THREADS and threadpoolctl's limits).

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static int fastconv_openmp_enabled(void) { return 1; }
    static int fastconv_max_threads(void) { return omp_get_max_threads(); }
    #else
    static int fastconv_openmp_enabled(void) { return 0; }
    static int fastconv_max_threads(void) { return 1; }
    #endif
    """
    int fastconv_openmp_enabled() noexcept nogil
    int fastconv_max_threads() noexcept nogil


def openmp_enabled():
    """True when the extension was compiled with OpenMP."""
    return bool(fastconv_openmp_enabled())


def max_threads():
    """OpenMP's default thread count for a parallel region (1 without OpenMP)."""
    return fastconv_max_threads()
