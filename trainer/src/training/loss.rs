//! Adversarial losses on discriminator logits. Each returns a scalar (`[1]`) tensor.
//!
//! The default is the seed's: binary cross-entropy (computed on logits in the stable
//! form `max(l, 0) - l*y + ln(1 + e^-|l|)`), with the non-saturating generator target 1.

use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};

use crate::config::LossKind;

/// An adversarial loss with its label-smoothing setting.
#[derive(Debug, Clone, Copy)]
pub struct AdversarialLoss {
    /// which loss
    pub kind: LossKind,
    /// one-sided label smoothing of the real target
    pub label_smoothing: f64,
}

/// `mean(BCE(sigmoid(logits), target))`, numerically stable for any logit.
pub fn bce_with_logits(logits: Tensor<1>, target: f64) -> Tensor<1> {
    let softplus_neg_abs = logits.clone().abs().neg().exp().log1p();
    (relu(logits.clone()) - logits.mul_scalar(target) + softplus_neg_abs).mean()
}

impl AdversarialLoss {
    fn real_target(&self) -> f64 {
        1.0 - self.label_smoothing
    }

    /// D's loss on a real batch (target 1, or `1 - smoothing`).
    pub fn d_real(&self, logits: Tensor<1>) -> Tensor<1> {
        match self.kind {
            LossKind::Bce => bce_with_logits(logits, self.real_target()),
            LossKind::LeastSquares => logits.sub_scalar(self.real_target()).square().mean(),
            LossKind::Hinge => relu(logits.neg().add_scalar(1.0)).mean(),
        }
    }

    /// D's loss on a generated batch (target 0).
    pub fn d_fake(&self, logits: Tensor<1>) -> Tensor<1> {
        match self.kind {
            LossKind::Bce => bce_with_logits(logits, 0.0),
            LossKind::LeastSquares => logits.square().mean(),
            LossKind::Hinge => relu(logits.add_scalar(1.0)).mean(),
        }
    }

    /// G's loss through the frozen D: target 1 on generated samples (non-saturating).
    pub fn g(&self, logits: Tensor<1>) -> Tensor<1> {
        match self.kind {
            LossKind::Bce => bce_with_logits(logits, 1.0),
            LossKind::LeastSquares => logits.sub_scalar(1.0).square().mean(),
            LossKind::Hinge => logits.neg().mean(),
        }
    }

    /// What is logged as "D(x)": the probability sigmoid(logit) for BCE (ideal end 0.5),
    /// the raw output for least squares (targets 0/1, so also 0.5 at the end), the raw
    /// logit for hinge (ideal end 0).
    pub fn score(&self, logits: Tensor<1>) -> Tensor<1> {
        match self.kind {
            LossKind::Bce => sigmoid(logits).mean(),
            LossKind::LeastSquares | LossKind::Hinge => logits.mean(),
        }
    }

    /// The value of [`score`](Self::score) at the ideal equilibrium.
    pub fn ideal_score(&self) -> f64 {
        match self.kind {
            LossKind::Bce | LossKind::LeastSquares => 0.5,
            LossKind::Hinge => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(t: Tensor<1>) -> f64 {
        f64::from(t.into_scalar::<f32>())
    }

    #[test]
    fn bce_matches_hand_computed_values() {
        let device = Device::flex();
        // logit 0: -ln(0.5) = 0.693147 for either target
        let l = Tensor::<1>::from_floats([0.0], &device);
        assert!((scalar(bce_with_logits(l.clone(), 1.0)) - std::f64::consts::LN_2).abs() < 1e-6);
        assert!((scalar(bce_with_logits(l, 0.0)) - std::f64::consts::LN_2).abs() < 1e-6);
        // logit 2, target 1: ln(1 + e^-2) = 0.126928
        let l = Tensor::<1>::from_floats([2.0], &device);
        assert!((scalar(bce_with_logits(l.clone(), 1.0)) - 0.126_928).abs() < 1e-5);
        // logit 2, target 0: 2 + ln(1 + e^-2) = 2.126928
        assert!((scalar(bce_with_logits(l, 0.0)) - 2.126_928).abs() < 1e-5);
    }

    #[test]
    fn bce_is_finite_for_extreme_logits() {
        let device = Device::flex();
        let l = Tensor::<1>::from_floats([1000.0, -1000.0], &device);
        // target 1: [0, 1000] -> mean 500
        let v = scalar(bce_with_logits(l, 1.0));
        assert!((v - 500.0).abs() < 1e-3, "{v}");
    }

    #[test]
    fn least_squares_and_hinge_match_definitions() {
        let device = Device::flex();
        let l = || Tensor::<1>::from_floats([0.5, -1.5], &device);
        let ls = AdversarialLoss {
            kind: LossKind::LeastSquares,
            label_smoothing: 0.0,
        };
        // real: ((0.5-1)^2 + (-1.5-1)^2)/2 = (0.25 + 6.25)/2 = 3.25
        assert!((scalar(ls.d_real(l())) - 3.25).abs() < 1e-6);
        // fake: (0.25 + 2.25)/2 = 1.25
        assert!((scalar(ls.d_fake(l())) - 1.25).abs() < 1e-6);
        let h = AdversarialLoss {
            kind: LossKind::Hinge,
            label_smoothing: 0.0,
        };
        // real: (max(0, 0.5) + max(0, 2.5))/2 = 1.5
        assert!((scalar(h.d_real(l())) - 1.5).abs() < 1e-6);
        // fake: (max(0, 1.5) + max(0, -0.5))/2 = 0.75
        assert!((scalar(h.d_fake(l())) - 0.75).abs() < 1e-6);
        // g: -(0.5 - 1.5)/2 = 0.5
        assert!((scalar(h.g(l())) - 0.5).abs() < 1e-6);
    }

    #[test]
    fn label_smoothing_moves_the_real_target() {
        let device = Device::flex();
        let l = Tensor::<1>::from_floats([0.0], &device);
        let smooth = AdversarialLoss {
            kind: LossKind::LeastSquares,
            label_smoothing: 0.1,
        };
        // (0 - 0.9)^2 = 0.81
        assert!((scalar(smooth.d_real(l)) - 0.81).abs() < 1e-6);
    }
}
