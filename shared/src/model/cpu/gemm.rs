//! The one call into `gemm`, the crate's only `unsafe` block: a dense single-threaded
//! `f32` matrix product over slices, used by the Winograd conv path and its tests.
//!
//! It sits in a leaf module of its own so that the `unsafe` is reviewed in one place and the
//! conv kernels that use it import in one direction only.

/// `c[m×n] = a[m×k] · b[k×n]`, all row-major and densely packed, single-threaded (the caller
/// parallelises over output rows).
pub(super) fn matmul(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize) {
    assert!(
        a.len() >= m * k && b.len() >= k * n && c.len() >= m * n,
        "matmul sizes"
    );
    // SAFETY: the three slices are live, non-overlapping (c is a unique borrow) and at least
    // m·k, k·n and m·n long (asserted above); with row strides k, n, n and column stride 1,
    // gemm reads a[i·k + l], b[l·n + j] and writes c[i·n + j] only for i < m, l < k, j < n.
    #[allow(unsafe_code)]
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            1,
            n as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}
