//! Classification metrics: confusion matrix, accuracy, balanced accuracy, per-class precision /
//! recall / F1, macro-F1, and mean ± standard deviation over folds.

/// Counts `[true][predicted]` over a fixed label list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confusion {
    /// The class names, in index order.
    pub labels: Vec<String>,
    /// `counts[t][p]`: examples of true class `t` predicted as `p` (square, `labels.len()`).
    pub counts: Vec<Vec<usize>>,
}

/// Precision, recall, F1 and support (number of true examples) of one class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassMetrics {
    /// Fraction of the examples predicted as this class that are of it (0..=1; 0 if never
    /// predicted).
    pub precision: f64,
    /// Fraction of this class's examples predicted as it (0..=1; 0 without examples).
    pub recall: f64,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub f1: f64,
    /// Number of true examples of the class.
    pub support: usize,
}

impl Confusion {
    /// An all-zero matrix over `labels`.
    pub fn new(labels: &[String]) -> Self {
        let n = labels.len();
        Self {
            labels: labels.to_vec(),
            counts: vec![vec![0; n]; n],
        }
    }

    /// Count one decision (indices outside the label list are ignored).
    pub fn add(&mut self, truth: usize, predicted: usize) {
        if let Some(c) = self
            .counts
            .get_mut(truth)
            .and_then(|row| row.get_mut(predicted))
        {
            *c += 1;
        }
    }

    /// Add another matrix over the same labels (pooling folds).
    pub fn merge(&mut self, other: &Confusion) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
    }

    /// Number of decisions counted.
    pub fn total(&self) -> usize {
        self.counts.iter().flatten().sum()
    }

    /// Fraction correct; 0 for an empty matrix.
    pub fn accuracy(&self) -> f64 {
        let correct: usize = (0..self.counts.len()).map(|i| self.counts[i][i]).sum();
        ratio(correct, self.total())
    }

    /// Per-class metrics in label order. A class never predicted has precision 0, a class
    /// with no true example recall 0 (the usual convention, e.g. scikit-learn's `zero_division=0`).
    pub fn per_class(&self) -> Vec<ClassMetrics> {
        let n = self.counts.len();
        (0..n)
            .map(|c| {
                let tp = self.counts[c][c];
                let support: usize = self.counts[c].iter().sum();
                let predicted: usize = (0..n).map(|r| self.counts[r][c]).sum();
                let precision = ratio(tp, predicted);
                let recall = ratio(tp, support);
                let f1 = if precision + recall > 0.0 {
                    2.0 * precision * recall / (precision + recall)
                } else {
                    0.0
                };
                ClassMetrics {
                    precision,
                    recall,
                    f1,
                    support,
                }
            })
            .collect()
    }

    /// Unweighted mean of the per-class F1 over classes that have true examples.
    pub fn macro_f1(&self) -> f64 {
        self.mean_over_classes(|m| m.f1)
    }

    /// Balanced accuracy: the unweighted mean of the per-class recall over classes that have
    /// true examples (scikit-learn's `balanced_accuracy_score`). Every genre counts the same
    /// however many songs it has: a classifier that never names a small genre loses that
    /// genre's whole share, which plain accuracy hides.
    pub fn balanced_accuracy(&self) -> f64 {
        self.mean_over_classes(|m| m.recall)
    }

    fn mean_over_classes(&self, f: impl Fn(&ClassMetrics) -> f64) -> f64 {
        let pc: Vec<ClassMetrics> = self
            .per_class()
            .into_iter()
            .filter(|m| m.support > 0)
            .collect();
        if pc.is_empty() {
            return 0.0;
        }
        pc.iter().map(f).sum::<f64>() / pc.len() as f64
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Mean and sample standard deviation (n − 1 in the denominator; 0 for fewer than 2 values).
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_of_a_known_matrix() {
        let labels: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let mut m = Confusion::new(&labels);
        // truth a: 3 right, 1 → b; truth b: 2 right; truth c: 1 → a, 1 right.
        for (t, p) in [
            (0, 0),
            (0, 0),
            (0, 0),
            (0, 1),
            (1, 1),
            (1, 1),
            (2, 0),
            (2, 2),
        ] {
            m.add(t, p);
        }
        m.add(5, 0); // ignored
        assert_eq!(m.total(), 8);
        assert!((m.accuracy() - 6.0 / 8.0).abs() < 1e-12);
        let pc = m.per_class();
        assert!((pc[0].precision - 0.75).abs() < 1e-12);
        assert!((pc[0].recall - 0.75).abs() < 1e-12);
        assert!((pc[1].precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((pc[1].recall - 1.0).abs() < 1e-12);
        assert!((pc[1].f1 - 0.8).abs() < 1e-12);
        assert!((pc[2].f1 - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.macro_f1() - (0.75 + 0.8 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
        // Recalls 3/4, 2/2, 1/2; accuracy weighs them by support (6/8), balanced accuracy not.
        assert!((m.balanced_accuracy() - (0.75 + 1.0 + 0.5) / 3.0).abs() < 1e-12);
        let mut pooled = m.clone();
        pooled.merge(&m);
        assert_eq!(pooled.total(), 16);
        assert!((pooled.accuracy() - m.accuracy()).abs() < 1e-12);
    }

    /// A classifier that always names the big class: 95 % accurate, 50 % balanced.
    #[test]
    fn balanced_accuracy_sees_an_ignored_class() {
        let labels: Vec<String> = ["big", "small", "absent"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut m = Confusion::new(&labels);
        (0..95).for_each(|_| m.add(0, 0));
        (0..5).for_each(|_| m.add(1, 0));
        assert!((m.accuracy() - 0.95).abs() < 1e-12);
        assert!(
            (m.balanced_accuracy() - 0.5).abs() < 1e-12,
            "the class without songs is not averaged"
        );
        assert_eq!(Confusion::new(&labels).balanced_accuracy(), 0.0);
    }

    #[test]
    fn mean_and_sample_std() {
        let (m, s) = mean_std(&[0.7, 0.8, 0.9]);
        assert!((m - 0.8).abs() < 1e-12);
        assert!((s - 0.1).abs() < 1e-12);
        assert_eq!(mean_std(&[0.5]), (0.5, 0.0));
    }
}
