//! One lowering per op family, registered in one name → fn table (`TABLE`).
//!
//! The names are tract's op names after decluttering (an ONNX `Gemm` arrives as `EinSum`
//! plus `Add`, `Relu` as `Max` with zero, `Flatten` as `Reshape`). Each lowering reads
//! its inputs through the lowerer, so constants are already folded, and records what
//! the node's outputs became. Adding an op: a file here, a row in `TABLE`; a one-input
//! elementwise op the runtime describes (`ElementwiseDef`, e.g. Clip) is only a row in
//! [`elementwise`]'s table, which this module consults after `TABLE`.

mod activation;
mod binary;
mod concat;
mod conv;
mod deconv;
mod einsum;
mod elementwise;
mod gather;
mod leaky_relu;
mod onehot;
mod pad;
mod reshape;
mod resize;

use tract_onnx::prelude::TypedNode;

use super::CompileError;
use super::lower::Lowerer;

/// Lowers one node: reads its inputs through the lowerer and records its outputs.
pub(crate) type LowerFn = for<'m> fn(&mut Lowerer<'m>, &'m TypedNode) -> Result<(), CompileError>;

/// tract op name → lowering.
const TABLE: &[(&str, LowerFn)] = &[
    ("EinSum", einsum::einsum),
    ("Conv", conv::conv),
    ("Deconv", deconv::deconv),
    ("Add", binary::add),
    ("Sub", binary::sub),
    ("Mul", binary::mul),
    ("Max", activation::max),
    ("Neg", activation::neg),
    ("Tanh", activation::tanh),
    ("Sigmoid", activation::sigmoid),
    ("LeakyRelu", activation::leaky_relu),
    ("Gather", gather::gather),
    ("Onehot", onehot::one_hot),
    ("Eq", onehot::equal),
    ("Concat", concat::concat),
    ("Reshape", reshape::reshape),
    ("AddAxis", reshape::reshape),
    ("RmAxis", reshape::reshape),
    ("MoveAxis", reshape::reshape),
    ("IntoShape", reshape::reshape),
    ("Cast", reshape::cast),
    ("Pad", pad::pad),
    ("Resize", resize::resize),
    ("Upsample", resize::resize),
    // tract 0.23 declutters a nearest integer-factor Resize into this core op
    ("NearestUpsample", resize::resize),
    // the inner nodes of Softplus and Elu (rows of `elementwise`)
    ("Exp", elementwise::part_of_pattern),
    ("LT", elementwise::part_of_pattern),
    ("GT", elementwise::part_of_pattern),
];

pub(crate) use onehot::depth as one_hot_depth;

/// The lowering registered for tract op `name`.
pub(crate) fn lookup(name: &str) -> Option<LowerFn> {
    let own = TABLE.iter().find(|(n, _)| *n == name).map(|(_, f)| *f);
    own.or_else(|| elementwise::handles(name).then_some(elementwise::lower as LowerFn))
}

/// The tract op names the compiler lowers (after decluttering).
pub fn supported() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|(n, _)| *n).chain(elementwise::names())
}

/// Whether `node` passes the label through unchanged (casts, axis changes).
pub(crate) fn is_label_passthrough(node: &TypedNode) -> bool {
    matches!(
        &*node.op.name(),
        "Cast" | "Reshape" | "AddAxis" | "RmAxis" | "IntoShape"
    )
}
