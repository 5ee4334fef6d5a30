//! The exponential moving average of G's weights (`algorithm.ema_decay`), matched to G's
//! parameters by id.

use std::collections::HashMap;

use burn::module::{ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::prelude::*;

use crate::networks::Generator;

/// Collects a module's float parameters, flattened, by id.
struct CollectParams(HashMap<ParamId, Tensor<1>>);

impl ModuleVisitor for CollectParams {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val().detach().without_autodiff();
        let n = t.shape().num_elements();
        self.0.insert(param.id, t.reshape([n]));
    }
}

/// `ema <- decay * ema + (1 - decay) * param`, matched by parameter id.
struct EmaMapper {
    params: HashMap<ParamId, Tensor<1>>,
    decay: f64,
}

impl ModuleMapper for EmaMapper {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        match self.params.remove(&param.id) {
            Some(current) => {
                let decay = self.decay;
                param.map(|ema| {
                    let current = current.reshape(ema.dims());
                    ema.mul_scalar(decay) + current.mul_scalar(1.0 - decay)
                })
            }
            None => param,
        }
    }
}

/// One EMA update of `ema` towards `generator` (which shares its parameter ids).
pub fn ema_update(ema: Generator, generator: &Generator, decay: f64) -> Generator {
    let mut collect = CollectParams(HashMap::new());
    generator.visit(&mut collect);
    ema.map(&mut EmaMapper {
        params: collect.0,
        decay,
    })
}
