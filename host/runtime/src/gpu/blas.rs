//! GEMM as BLAS defines it, column-major: `c = alpha * op(a) * op(b) +
//! beta * c`. The shape checks every backend runs before touching memory,
//! and the CPU reference (f32 accumulation, f16 and bf16 converted on the
//! way in and out), spread over the machine's cores.

use super::GpuError;

/// An element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    /// 4-byte IEEE float.
    F32,
    /// 2-byte IEEE half.
    F16,
    /// 2-byte bfloat16.
    Bf16,
}

impl Dtype {
    /// Bytes per element.
    pub fn size(self) -> u64 {
        match self {
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::Bf16 => 2,
        }
    }
}

/// One gemm, or a strided batch of them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gemm {
    /// The element type of a, b and c.
    pub dtype: Dtype,
    /// Whether a and b are transposed.
    pub transpose_a: bool,
    /// See above.
    pub transpose_b: bool,
    /// `op(a)` is m x k, `op(b)` k x n, `c` m x n.
    pub m: u32,
    /// See above.
    pub n: u32,
    /// See above.
    pub k: u32,
    /// The scales.
    pub alpha: f32,
    /// See above.
    pub beta: f32,
    /// Leading dimensions, in elements.
    pub lda: u32,
    /// See above.
    pub ldb: u32,
    /// See above.
    pub ldc: u32,
    /// How many gemms, and the distance in elements between one's matrices
    /// and the next's.
    pub batch: u32,
    /// See above.
    pub stride_a: u64,
    /// See above.
    pub stride_b: u64,
    /// See above.
    pub stride_c: u64,
}

impl Gemm {
    /// `c = op(a) * op(b)` of `m x k` and `k x n` matrices, untransposed,
    /// one gemm, each matrix's leading dimension its rows.
    pub fn new(dtype: Dtype, m: u32, n: u32, k: u32) -> Self {
        Gemm {
            dtype,
            transpose_a: false,
            transpose_b: false,
            m,
            n,
            k,
            alpha: 1.0,
            beta: 0.0,
            lda: 0,
            ldb: 0,
            ldc: 0,
            batch: 1,
            stride_a: 0,
            stride_b: 0,
            stride_c: 0,
        }
        .with_default_leads()
    }

    /// Stored rows and columns of a, b and c (a is k x m when transposed).
    fn shapes(&self) -> [(u32, u32); 3] {
        let a = if self.transpose_a {
            (self.k, self.m)
        } else {
            (self.m, self.k)
        };
        let b = if self.transpose_b {
            (self.n, self.k)
        } else {
            (self.k, self.n)
        };
        [a, b, (self.m, self.n)]
    }

    /// Fills leading dimensions left at 0 with the stored rows.
    pub fn with_default_leads(mut self) -> Self {
        let [a, b, c] = self.shapes();
        for (ld, rows) in [
            (&mut self.lda, a.0),
            (&mut self.ldb, b.0),
            (&mut self.ldc, c.0),
        ] {
            if *ld == 0 {
                *ld = rows.max(1);
            }
        }
        self
    }

    /// Checks the leading dimensions and that each operand's buffer of
    /// `sizes` bytes holds every element the batch reads or writes.
    pub fn check(&self, sizes: [u64; 3]) -> Result<(), GpuError> {
        if self.batch == 0 {
            return Err(GpuError::InvalidArgument("a batch of 0 gemms".into()));
        }
        let names = ["a", "b", "c"];
        let leads = [self.lda, self.ldb, self.ldc];
        let strides = [self.stride_a, self.stride_b, self.stride_c];
        for (i, (rows, cols)) in self.shapes().into_iter().enumerate() {
            let (name, ld) = (names[i], leads[i]);
            if ld < rows.max(1) {
                return Err(GpuError::InvalidArgument(format!(
                    "ld{name} {ld} is less than {name}'s {rows} rows"
                )));
            }
            if rows == 0 || cols == 0 {
                continue;
            }
            let one = u64::from(cols - 1) * u64::from(ld) + u64::from(rows);
            let elements = u64::from(self.batch - 1)
                .checked_mul(strides[i])
                .and_then(|e| e.checked_add(one));
            let bytes = elements.and_then(|e| e.checked_mul(self.dtype.size()));
            if bytes.is_none_or(|b| b > sizes[i]) {
                return Err(GpuError::InvalidArgument(format!(
                    "{name} ({rows} x {cols}, ld {ld}, {} gemm(s) {} elements apart) needs {} bytes; its buffer has {}",
                    self.batch,
                    strides[i],
                    bytes.map_or("more than 2^64".into(), |b| b.to_string()),
                    sizes[i]
                )));
            }
        }
        Ok(())
    }

    /// Floating-point operations the whole batch does.
    pub fn flops(&self) -> f64 {
        2.0 * f64::from(self.m) * f64::from(self.n) * f64::from(self.k) * f64::from(self.batch)
    }
}

/// Reads element `i` of `bytes` as f32.
fn load(dtype: Dtype, bytes: &[u8], i: usize) -> f32 {
    match dtype {
        Dtype::F32 => f32::from_le_bytes(bytes[i * 4..i * 4 + 4].try_into().unwrap_or_default()),
        Dtype::F16 => half::f16::from_le_bytes([bytes[i * 2], bytes[i * 2 + 1]]).to_f32(),
        Dtype::Bf16 => half::bf16::from_le_bytes([bytes[i * 2], bytes[i * 2 + 1]]).to_f32(),
    }
}

fn store(dtype: Dtype, bytes: &mut [u8], i: usize, v: f32) {
    match dtype {
        Dtype::F32 => bytes[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes()),
        Dtype::F16 => {
            bytes[i * 2..i * 2 + 2].copy_from_slice(&half::f16::from_f32(v).to_le_bytes())
        }
        Dtype::Bf16 => {
            bytes[i * 2..i * 2 + 2].copy_from_slice(&half::bf16::from_f32(v).to_le_bytes())
        }
    }
}

/// `op`'s gemms on bytes, checked first. `c` is read (for beta) and
/// written in place.
pub fn gemm(op: &Gemm, a: &[u8], b: &[u8], c: &mut [u8]) -> Result<(), GpuError> {
    op.check([a.len() as u64, b.len() as u64, c.len() as u64])?;
    let (m, n, k) = (op.m as usize, op.n as usize, op.k as usize);
    if m == 0 || n == 0 {
        return Ok(());
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    for batch in 0..op.batch as usize {
        let (base_a, base_b, base_c) = (
            batch * op.stride_a as usize,
            batch * op.stride_b as usize,
            batch * op.stride_c as usize,
        );
        // op(a) packed column-major (m x k, column l contiguous), so the
        // inner loop runs down a column and vectorizes.
        let mut packed = vec![0f32; m * k];
        for l in 0..k {
            for i in 0..m {
                let at = if op.transpose_a {
                    l + i * op.lda as usize
                } else {
                    i + l * op.lda as usize
                };
                packed[i + l * m] = load(op.dtype, a, base_a + at);
            }
        }
        let b_at = |l: usize, j: usize| {
            let at = if op.transpose_b {
                j + l * op.ldb as usize
            } else {
                l + j * op.ldb as usize
            };
            load(op.dtype, b, base_b + at)
        };
        // Each thread computes whole columns of c.
        let columns: Vec<Vec<f32>> = std::thread::scope(|scope| {
            let per = n.div_ceil(threads);
            let workers: Vec<_> = (0..n)
                .step_by(per.max(1))
                .map(|first| {
                    let packed = &packed;
                    let b_at = &b_at;
                    scope.spawn(move || {
                        (first..(first + per).min(n))
                            .map(|j| {
                                let mut column = vec![0f32; m];
                                for l in 0..k {
                                    let scale = b_at(l, j);
                                    if scale == 0.0 {
                                        continue;
                                    }
                                    let a_col = &packed[l * m..(l + 1) * m];
                                    for (out, a) in column.iter_mut().zip(a_col) {
                                        *out += a * scale;
                                    }
                                }
                                column
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap_or_default())
                .collect()
        });
        for (j, column) in columns.iter().enumerate() {
            for (i, product) in column.iter().enumerate() {
                let at = base_c + i + j * op.ldc as usize;
                let old = if op.beta == 0.0 {
                    0.0
                } else {
                    load(op.dtype, c, at)
                };
                store(op.dtype, c, at, op.alpha * product + op.beta * old);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn floats(bytes: &[u8]) -> Vec<f32> {
        bytes
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    fn op(m: u32, n: u32, k: u32) -> Gemm {
        Gemm::new(Dtype::F32, m, n, k)
    }

    #[test]
    fn a_small_product_is_column_major() {
        // a = [[1, 2], [3, 4]] (rows), stored by columns: 1, 3, 2, 4.
        let a = bytes(&[1.0, 3.0, 2.0, 4.0]);
        let b = bytes(&[5.0, 7.0, 6.0, 8.0]);
        let mut c = bytes(&[0.0; 4]);
        gemm(&op(2, 2, 2), &a, &b, &mut c).unwrap();
        // [[19, 22], [43, 50]] by columns.
        assert_eq!(floats(&c), vec![19.0, 43.0, 22.0, 50.0]);
        // Transposing a: a^T b.
        let t = Gemm {
            transpose_a: true,
            beta: 1.0,
            ..op(2, 2, 2)
        };
        gemm(&t, &a, &b, &mut c).unwrap();
        assert_eq!(
            floats(&c),
            vec![19.0 + 26.0, 43.0 + 38.0, 22.0 + 30.0, 50.0 + 44.0]
        );
    }

    #[test]
    fn operands_too_small_for_the_shape_are_refused_by_name() {
        let a = bytes(&[1.0; 3]);
        let b = bytes(&[1.0; 4]);
        let mut c = bytes(&[0.0; 4]);
        let err = gemm(&op(2, 2, 2), &a, &b, &mut c).unwrap_err();
        assert!(err.to_string().contains("a (2 x 2"), "{err}");
        let bad_lead = Gemm {
            lda: 1,
            ..op(2, 2, 2)
        };
        let err = gemm(&bad_lead, &bytes(&[1.0; 4]), &b, &mut c).unwrap_err();
        assert!(
            err.to_string().contains("lda 1 is less than a's 2 rows"),
            "{err}"
        );
    }
}
