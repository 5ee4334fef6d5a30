//! Caps on an untrusted ONNX file, checked on its protobuf before tract builds anything.
//!
//! tract trusts a model's declared sizes: a 77-byte file with an input `z[N, 2^26]`, or a
//! `ConstantOfShape` asking for 14 GB, makes it allocate (or panic) while it types and
//! folds the graph. [`check`] decodes the protobuf (bounded by the file's size), then walks
//! every graph (subgraphs too, with an explicit stack) and refuses, naming the tensor or
//! node: a file over [`OnnxLimits::max_file_bytes`], more than
//! [`OnnxLimits::max_nodes`] nodes, an initializer or `Constant` value over
//! [`OnnxLimits::max_tensor_elements`], a `ConstantOfShape` whose constant shape asks for
//! more, and a graph input with more than [`OnnxLimits::max_input_elements`] per sample
//! (its known dimensions after the first, the batch; a symbolic one counts as 1).
//!
//! Every tract entry point of this crate ([`TypedOnnx`](super::TypedOnnx),
//! [`TractSampler`](super::TractSampler), the compiler) goes through [`read`] or
//! [`check`] and then [`parse`].

use std::path::Path;

use tract_onnx::pb;
use tract_onnx::prelude::*;

/// The caps [`check`] applies (each inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OnnxLimits {
    /// Largest file, in bytes.
    pub max_file_bytes: u64,
    /// Most nodes, over the main graph and every subgraph.
    pub max_nodes: usize,
    /// Most elements in one initializer, `Constant` value or constant-shaped
    /// `ConstantOfShape` output.
    pub max_tensor_elements: u64,
    /// Most elements of one graph input per sample (the batch axis left out).
    pub max_input_elements: u64,
}

impl Default for OnnxLimits {
    /// 2 GiB files (protobuf's own limit), 50,000 nodes, 2^28 elements per constant (1 GiB
    /// of f32: a 16,384 × 16,384 layer, the trainer's widest) and 2^22 per input sample (a
    /// 3×1024×1024 picture fits). The shipped generators are under 1 MiB, 100 nodes and
    /// 2^18 elements per constant.
    fn default() -> Self {
        OnnxLimits {
            max_file_bytes: 2 << 30,
            max_nodes: 50_000,
            max_tensor_elements: 1 << 28,
            max_input_elements: 1 << 22,
        }
    }
}

/// An ONNX file over a cap, or one whose protobuf does not decode.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OnnxLimitError {
    /// The file is larger than the cap.
    #[error("the file has {bytes} bytes, the limit is {limit}")]
    FileTooLarge {
        /// Its size.
        bytes: u64,
        /// The cap.
        limit: u64,
    },
    /// More nodes than the cap.
    #[error("the graph has more than {limit} nodes")]
    TooManyNodes {
        /// The cap.
        limit: usize,
    },
    /// A constant (initializer, `Constant` value, `ConstantOfShape` output) over the cap.
    #[error("{what} `{name}` has {elements} elements, the limit is {limit}")]
    TensorTooLarge {
        /// "initializer", "Constant node", "ConstantOfShape node".
        what: &'static str,
        /// Its name.
        name: String,
        /// Its element count (saturated at `u64::MAX`).
        elements: u64,
        /// The cap.
        limit: u64,
    },
    /// A graph input with more elements per sample than the cap.
    #[error("input `{name}` has {elements} elements per sample, the limit is {limit}")]
    InputTooLarge {
        /// The input.
        name: String,
        /// Elements per sample (saturated at `u64::MAX`).
        elements: u64,
        /// The cap.
        limit: u64,
    },
    /// A negative dimension.
    #[error("{what} `{name}` has a negative dimension")]
    NegativeDim {
        /// What it is.
        what: &'static str,
        /// Its name.
        name: String,
    },
    /// A string tensor: no generator has one, and tract panics on string data stored raw
    /// (found by the fuzzer).
    #[error("{what} `{name}` is a string tensor (a generator has none)")]
    StringTensor {
        /// What it is.
        what: &'static str,
        /// Its name.
        name: String,
    },
    /// A convolution or pooling node whose window attributes (`kernel_shape`, `strides`,
    /// `dilations`, `pads`, `output_padding`, `output_shape`) or constant weight disagree on
    /// the number of spatial axes: tract indexes one by the other's length and panics
    /// (found by the fuzzer).
    #[error("node `{node}` ({op}): {message}")]
    BadWindow {
        /// The node's name.
        node: String,
        /// Its op type.
        op: String,
        /// Which attributes disagree.
        message: String,
    },
    /// An `axis`/`axes` attribute past any rank a generator's tensors have: tract's shape
    /// inference adds one rule per axis up to it (a OneHot `axis` of 2^28 grew past 20 GB;
    /// found by the fuzzer).
    #[error("node `{node}` ({op}): attribute {attribute} = {value} is outside {min}..={max}")]
    BadAxis {
        /// The node's name.
        node: String,
        /// Its op type.
        op: String,
        /// `axis` or `axes`.
        attribute: String,
        /// The value.
        value: i64,
        /// The smallest value allowed.
        min: i64,
        /// The largest value allowed.
        max: i64,
    },
    /// A `Resize`/`Upsample` whose constant scales or sizes are past any generator's.
    #[error("node `{node}` ({op}): {message}")]
    BadResize {
        /// The node's name.
        node: String,
        /// Its op type.
        op: String,
        /// What is out of range.
        message: String,
    },
    /// A graph output that nothing in its graph defines: tract looks it up unchecked and
    /// panics (found by the fuzzer).
    #[error("graph output `{name}` is not an input, an initializer or a node's output")]
    UndefinedOutput {
        /// The output's name.
        name: String,
    },
    /// The bytes are not an ONNX protobuf.
    #[error("not an ONNX model: {0}")]
    Decode(String),
    /// The file cannot be read.
    #[error("reading it: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads the ONNX file at `path` (its size checked before it is read) and [`check`]s it.
///
/// # Errors
///
/// [`OnnxLimitError::Io`], and as [`check`].
pub fn read(path: &Path, limits: &OnnxLimits) -> Result<pb::ModelProto, OnnxLimitError> {
    let bytes = std::fs::metadata(path)?.len();
    if bytes > limits.max_file_bytes {
        return Err(OnnxLimitError::FileTooLarge {
            bytes,
            limit: limits.max_file_bytes,
        });
    }
    check(&std::fs::read(path)?, limits)
}

/// Decodes `bytes` as an ONNX `ModelProto` and checks it against `limits`.
///
/// # Errors
///
/// The first cap the model exceeds, or [`OnnxLimitError::Decode`].
pub fn check(bytes: &[u8], limits: &OnnxLimits) -> Result<pb::ModelProto, OnnxLimitError> {
    let len = bytes.len() as u64;
    if len > limits.max_file_bytes {
        return Err(OnnxLimitError::FileTooLarge {
            bytes: len,
            limit: limits.max_file_bytes,
        });
    }
    let proto = tract_onnx::onnx()
        .proto_model_for_read(&mut &*bytes)
        .map_err(|e| OnnxLimitError::Decode(format!("{e:#}")))?;
    check_proto(&proto, limits)?;
    Ok(proto)
}

/// The first initializer of the ONNX model in `bytes` whose data is outside the file (ONNX
/// external data, as `torch.onnx.export(..., dynamo=True)` writes by default): its name and
/// the file it names. `None` for bytes that do not decode or hold every weight.
pub fn external_data(bytes: &[u8]) -> Option<(String, String)> {
    let proto = tract_onnx::onnx().proto_model_for_read(&mut &*bytes).ok()?;
    let external = Some(pb::tensor_proto::DataLocation::External as i32);
    let t = proto
        .graph?
        .initializer
        .into_iter()
        .find(|t| t.data_location == external)?;
    let location = t.external_data.iter().find(|e| e.key == "location");
    Some((
        t.name,
        location.map(|e| e.value.clone()).unwrap_or_default(),
    ))
}

/// [`check`]'s caps on a decoded model.
fn check_proto(proto: &pb::ModelProto, limits: &OnnxLimits) -> Result<(), OnnxLimitError> {
    if let Some(main) = &proto.graph {
        check_inputs(main, limits)?;
    }
    let mut nodes = 0usize;
    let mut graphs: Vec<&pb::GraphProto> = proto.graph.iter().collect();
    while let Some(g) = graphs.pop() {
        nodes = nodes.saturating_add(g.node.len());
        if nodes > limits.max_nodes {
            return Err(OnnxLimitError::TooManyNodes {
                limit: limits.max_nodes,
            });
        }
        for t in &g.initializer {
            check_tensor("initializer", &t.name, t, limits)?;
        }
        check_outputs_defined(g)?;
        for n in &g.node {
            for a in &n.attribute {
                for t in a.t.iter().chain(&a.tensors) {
                    check_tensor("Constant node", &n.name, t, limits)?;
                }
                graphs.extend(a.g.iter().chain(&a.graphs));
            }
            if n.op_type == "ConstantOfShape" {
                check_constant_of_shape(g, n, limits)?;
            }
            check_window(g, n)?;
            check_axes(n)?;
            check_resize(g, n, limits)?;
        }
    }
    Ok(())
}

/// tract's model of a checked `proto`; `path` (the file it came from) lets tract find
/// external weights next to it.
///
/// # Errors
///
/// tract's error for a model it cannot translate.
pub fn parse(proto: &pb::ModelProto, path: Option<&Path>) -> TractResult<InferenceModel> {
    parse_with(&tract_onnx::onnx(), proto, path)
}

/// As [`parse`], with a configured `onnx` (e.g. ignoring value info).
///
/// # Errors
///
/// As [`parse`].
pub fn parse_with(
    onnx: &tract_onnx::Onnx,
    proto: &pb::ModelProto,
    path: Option<&Path>,
) -> TractResult<InferenceModel> {
    let dir = path.and_then(Path::parent).and_then(Path::to_str);
    let parsed = onnx.parse(proto, dir)?;
    if !parsed.unresolved_inputs.is_empty() {
        return Err(TractError::msg(format!(
            "Could not resolve inputs at top-level: {:?}",
            parsed.unresolved_inputs
        )));
    }
    Ok(parsed.model)
}

/// The product of `dims` (saturated), or an error for a negative one.
fn elements(what: &'static str, name: &str, dims: &[i64]) -> Result<u64, OnnxLimitError> {
    dims.iter().try_fold(1u64, |acc, &d| {
        u64::try_from(d)
            .map(|d| acc.saturating_mul(d))
            .map_err(|_| OnnxLimitError::NegativeDim {
                what,
                name: name.to_string(),
            })
    })
}

/// A constant's size against the cap, and its type against what tract can load.
fn check_tensor(
    what: &'static str,
    name: &str,
    t: &pb::TensorProto,
    limits: &OnnxLimits,
) -> Result<(), OnnxLimitError> {
    if t.data_type == pb::tensor_proto::DataType::String as i32 {
        return Err(OnnxLimitError::StringTensor {
            what,
            name: name.to_string(),
        });
    }
    check_elements(what, name, &t.dims, limits)
}

/// `dims`' element count against the cap.
fn check_elements(
    what: &'static str,
    name: &str,
    dims: &[i64],
    limits: &OnnxLimits,
) -> Result<(), OnnxLimitError> {
    let elements = elements(what, name, dims)?;
    if elements > limits.max_tensor_elements {
        return Err(OnnxLimitError::TensorTooLarge {
            what,
            name: name.to_string(),
            elements,
            limit: limits.max_tensor_elements,
        });
    }
    Ok(())
}

/// The main graph's inputs that are not initializers: their known dimensions after the
/// batch.
fn check_inputs(g: &pb::GraphProto, limits: &OnnxLimits) -> Result<(), OnnxLimitError> {
    use pb::tensor_shape_proto::dimension::Value as Dim;
    use pb::type_proto::Value as Type;
    for input in &g.input {
        if g.initializer.iter().any(|t| t.name == input.name) {
            continue;
        }
        let Some(Type::TensorType(t)) = input.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
            continue;
        };
        let dims: Vec<i64> = t
            .shape
            .iter()
            .flat_map(|s| s.dim.iter().skip(1))
            .map(|d| match d.value {
                Some(Dim::DimValue(v)) => v,
                _ => 1,
            })
            .collect();
        let elements = elements("input", &input.name, &dims)?;
        if elements > limits.max_input_elements {
            return Err(OnnxLimitError::InputTooLarge {
                name: input.name.clone(),
                elements,
                limit: limits.max_input_elements,
            });
        }
    }
    Ok(())
}

/// A `ConstantOfShape` whose shape is an initializer or a `Constant` of `g`: the element
/// count it asks for. (A computed shape depends on the inputs, which are capped.)
fn check_constant_of_shape(
    g: &pb::GraphProto,
    n: &pb::NodeProto,
    limits: &OnnxLimits,
) -> Result<(), OnnxLimitError> {
    let Some(t) = n.input.first().and_then(|name| constant(g, name)) else {
        return Ok(());
    };
    check_elements("ConstantOfShape node", &n.name, &int64s(t), limits)
}

/// A constant int64 tensor's values (stored typed or raw, little-endian).
fn int64s(t: &pb::TensorProto) -> Vec<i64> {
    if t.int64_data.is_empty() {
        let word = |c: &[u8]| i64::from_le_bytes(std::array::from_fn(|i| c[i]));
        t.raw_data.chunks_exact(8).map(word).collect()
    } else {
        t.int64_data.clone()
    }
}

/// A constant float tensor's values (stored typed or raw, little-endian).
fn float32s(t: &pb::TensorProto) -> Vec<f32> {
    if t.float_data.is_empty() {
        let word = |c: &[u8]| f32::from_le_bytes(std::array::from_fn(|i| c[i]));
        t.raw_data.chunks_exact(4).map(word).collect()
    } else {
        t.float_data.clone()
    }
}

/// Every node output of a typed (not yet decluttered) model within
/// [`OnnxLimits::max_tensor_elements`] per sample: the shapes tract inferred from the
/// capped inputs and constants can still be huge when an op's constant parameters are
/// (a Pad of 2^30 rows), and declutter allocates for them. Symbolic dimensions (the batch)
/// count as one.
///
/// # Errors
///
/// [`OnnxLimitError::TensorTooLarge`] naming the node.
pub fn check_typed(model: &TypedModel, limits: &OnnxLimits) -> Result<(), OnnxLimitError> {
    for node in model.nodes() {
        for out in &node.outputs {
            let elements = out
                .fact
                .shape
                .iter()
                .map(|d| d.to_i64().map_or(1, |d| u64::try_from(d).unwrap_or(0)))
                .fold(1u64, u64::saturating_mul);
            if elements > limits.max_tensor_elements {
                return Err(OnnxLimitError::TensorTooLarge {
                    what: "the output of node",
                    name: node.name.clone(),
                    elements,
                    limit: limits.max_tensor_elements,
                });
            }
        }
    }
    Ok(())
}

/// The largest factor a `Resize`/`Upsample` may scale one axis by, and all axes together:
/// far past a generator's (×2, ×7 from a 1×1 seed) and small enough that tract's
/// resampling tables stay small.
const MAX_SCALE: f32 = 64.0;
/// See [`MAX_SCALE`].
const MAX_SCALE_PRODUCT: f32 = 4096.0;

/// A `Resize`'s or `Upsample`'s constant scales (input or opset-7 attribute) and sizes:
/// tract plans a resampling table per output axis while it declutters, before any of our
/// per-op output checks (a mutated scale asked it for 32 GiB; found by the fuzzer).
fn check_resize(
    g: &pb::GraphProto,
    n: &pb::NodeProto,
    limits: &OnnxLimits,
) -> Result<(), OnnxLimitError> {
    let scales_input = match n.op_type.as_str() {
        "Upsample" => 1,
        "Resize" if n.input.len() >= 3 => 2,
        "Resize" => 1,
        _ => return Ok(()),
    };
    let err = |message: String| OnnxLimitError::BadResize {
        node: n.name.clone(),
        op: n.op_type.clone(),
        message,
    };
    let from_input = n.input.get(scales_input).and_then(|name| constant(g, name));
    let from_attribute = n.attribute.iter().find(|a| a.name == "scales");
    let scales = match (from_input, from_attribute) {
        (Some(t), _) => float32s(t),
        (None, Some(a)) => a.floats.clone(),
        (None, None) => vec![],
    };
    if let Some(s) = scales
        .iter()
        .find(|s| !(s.is_finite() && **s > 0.0 && **s <= MAX_SCALE))
    {
        return Err(err(format!("scale {s} is not in (0, {MAX_SCALE}]")));
    }
    let product: f32 = scales.iter().product();
    if product > MAX_SCALE_PRODUCT {
        return Err(err(format!(
            "the scales multiply the size by {product}, the limit is {MAX_SCALE_PRODUCT}"
        )));
    }
    if let Some(t) = n.input.get(3).and_then(|name| constant(g, name)) {
        check_elements("Resize sizes of node", &n.name, &int64s(t), limits)?;
    }
    Ok(())
}

/// Every output of `g` is one of its inputs, initializers or node outputs.
fn check_outputs_defined(g: &pb::GraphProto) -> Result<(), OnnxLimitError> {
    let inputs = g.input.iter().map(|i| &i.name);
    let initializers = g.initializer.iter().map(|t| &t.name);
    let produced = g.node.iter().flat_map(|n| &n.output);
    let defined: std::collections::HashSet<&String> =
        inputs.chain(initializers).chain(produced).collect();
    match g.output.iter().find(|o| !defined.contains(&o.name)) {
        Some(o) => Err(OnnxLimitError::UndefinedOutput {
            name: o.name.clone(),
        }),
        None => Ok(()),
    }
}

/// The tensor named `name` if `g` holds it as an initializer or a `Constant` node's value.
fn constant<'g>(g: &'g pb::GraphProto, name: &str) -> Option<&'g pb::TensorProto> {
    let from_init = g.initializer.iter().find(|t| t.name == name);
    let from_const = || {
        g.node
            .iter()
            .filter(|c| c.op_type == "Constant" && c.output.first().is_some_and(|o| o == name))
            .flat_map(|c| c.attribute.iter().filter_map(|a| a.t.as_ref()))
            .next()
    };
    from_init.or_else(from_const)
}

/// The largest tensor rank an `axis`/`axes` attribute may point into: far past a
/// generator's (rank 4, 5 for tf2onnx's reshapes) and small enough that tract's per-axis
/// inference rules stay cheap.
const MAX_RANK: i64 = 32;

/// A node's `axis` and `axes` attributes within [`MAX_RANK`] (negative ones count from the
/// end). A OneHot's negative `axis` counts from the end of its output, one rank above a
/// label's (rank 1, or 2): tract casts `axis + rank + 1` to an unsigned loop bound unchecked,
/// so below -2 a rank-1 label turned it into a near-endless loop (found by the fuzzer).
fn check_axes(n: &pb::NodeProto) -> Result<(), OnnxLimitError> {
    let min = if n.op_type == "OneHot" { -2 } else { -MAX_RANK };
    for a in n
        .attribute
        .iter()
        .filter(|a| a.name == "axis" || a.name == "axes")
    {
        let values = if a.name == "axis" {
            std::slice::from_ref(&a.i)
        } else {
            &a.ints[..]
        };
        if let Some(&value) = values.iter().find(|v| !(min..=MAX_RANK).contains(*v)) {
            return Err(OnnxLimitError::BadAxis {
                node: n.name.clone(),
                op: n.op_type.clone(),
                attribute: a.name.clone(),
                value,
                min,
                max: MAX_RANK,
            });
        }
    }
    Ok(())
}

/// A convolution's or pooling's window attributes and constant weight: each gives the
/// number of spatial axes (`pads` twice over), and they must agree.
fn check_window(g: &pb::GraphProto, n: &pb::NodeProto) -> Result<(), OnnxLimitError> {
    let weight = match n.op_type.as_str() {
        "Conv" | "ConvInteger" | "ConvTranspose" | "DeformConv" => Some(1),
        "QLinearConv" => Some(3),
        "MaxPool" | "AveragePool" | "LpPool" | "MaxUnpool" | "MaxRoiPool" => None,
        _ => return Ok(()),
    };
    let err = |message: String| OnnxLimitError::BadWindow {
        node: n.name.clone(),
        op: n.op_type.clone(),
        message,
    };
    let mut axes: Vec<(String, usize)> = vec![];
    for a in &n.attribute {
        match a.name.as_str() {
            "kernel_shape" | "strides" | "dilations" | "output_padding" | "output_shape" => {
                axes.push((format!("{} has {}", a.name, a.ints.len()), a.ints.len()));
            }
            "pads" if a.ints.len() % 2 == 1 => {
                return Err(err(format!("pads has an odd length, {}", a.ints.len())));
            }
            "pads" => axes.push((
                format!("pads has 2 × {}", a.ints.len() / 2),
                a.ints.len() / 2,
            )),
            _ => {}
        }
    }
    if let Some(w) = weight
        .and_then(|i| n.input.get(i))
        .and_then(|name| constant(g, name))
    {
        let spatial = w.dims.len().saturating_sub(2);
        axes.push((format!("the weight has {spatial} spatial axes"), spatial));
    }
    match axes.iter().find(|(_, k)| *k != axes[0].1) {
        Some((other, _)) => Err(err(format!("{} but {other}", axes[0].0))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_saturate_and_refuse_negative_dims() {
        assert_eq!(elements("x", "a", &[]).unwrap(), 1);
        assert_eq!(elements("x", "a", &[1 << 40, 1 << 40]).unwrap(), u64::MAX);
        assert!(matches!(
            elements("x", "a", &[2, -1]),
            Err(OnnxLimitError::NegativeDim { .. })
        ));
    }

    #[test]
    fn garbage_is_a_decode_error_and_size_comes_first() {
        let limits = OnnxLimits::default();
        assert!(matches!(
            check(&[0xFF; 64], &limits),
            Err(OnnxLimitError::Decode(_))
        ));
        let tiny = OnnxLimits {
            max_file_bytes: 10,
            ..limits
        };
        assert!(matches!(
            check(&[0xFF; 64], &tiny),
            Err(OnnxLimitError::FileTooLarge {
                bytes: 64,
                limit: 10
            })
        ));
    }

    #[test]
    fn window_attributes_that_disagree_are_refused_naming_the_node() {
        // the fuzzer's input: a Conv whose `pads` cover one spatial axis of a 2-D weight
        // made tract index past them ("the len is 1 but the index is 1")
        let ints = |name: &str, v: &[i64]| pb::AttributeProto {
            name: name.into(),
            ints: v.to_vec(),
            ..Default::default()
        };
        let conv = |attribute: Vec<pb::AttributeProto>| pb::ModelProto {
            graph: Some(pb::GraphProto {
                node: vec![pb::NodeProto {
                    name: "c1".into(),
                    op_type: "Conv".into(),
                    input: vec!["x".into(), "w".into()],
                    output: vec!["y".into()],
                    attribute,
                    ..Default::default()
                }],
                initializer: vec![pb::TensorProto {
                    name: "w".into(),
                    data_type: pb::tensor_proto::DataType::Float as i32,
                    dims: vec![4, 2, 3, 3],
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let limits = OnnxLimits::default();
        let ok = conv(vec![
            ints("kernel_shape", &[3, 3]),
            ints("strides", &[1, 1]),
            ints("pads", &[1, 1, 1, 1]),
        ]);
        check_proto(&ok, &limits).unwrap();
        for (attrs, message) in [
            (
                vec![ints("pads", &[1, 1])],
                "node `c1` (Conv): pads has 2 × 1 but the weight has 2 spatial axes",
            ),
            (
                vec![ints("kernel_shape", &[3, 3]), ints("strides", &[1])],
                "node `c1` (Conv): kernel_shape has 2 but strides has 1",
            ),
            (
                vec![ints("pads", &[1, 1, 1])],
                "node `c1` (Conv): pads has an odd length, 3",
            ),
        ] {
            let e = check_proto(&conv(attrs), &limits).unwrap_err();
            assert_eq!(e.to_string(), message);
        }
    }

    #[test]
    fn an_axis_past_any_rank_is_refused_naming_the_node() {
        // the fuzzer's input (corpus, seed 5, execution 12,599): a OneHot whose `axis` was
        // mutated to a huge value made tract's shape inference grow past 20 GB
        let one_hot = |axis: i64| pb::ModelProto {
            graph: Some(pb::GraphProto {
                node: vec![pb::NodeProto {
                    name: "oh".into(),
                    op_type: "OneHot".into(),
                    input: vec!["label".into(), "depth".into(), "values".into()],
                    output: vec!["y".into()],
                    attribute: vec![pb::AttributeProto {
                        name: "axis".into(),
                        i: axis,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let limits = OnnxLimits::default();
        check_proto(&one_hot(-1), &limits).unwrap();
        check_proto(&one_hot(-2), &limits).unwrap();
        check_proto(&one_hot(32), &limits).unwrap();
        // -3: the fuzzer's corpus seed 6, execution 121,047 (tract looped towards 2^64 rules)
        for axis in [33, -3, -33, 1 << 28, i64::MIN] {
            let e = check_proto(&one_hot(axis), &limits).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("node `oh` (OneHot): attribute axis = {axis} is outside -2..=32")
            );
        }
        let axes = pb::ModelProto {
            graph: Some(pb::GraphProto {
                node: vec![pb::NodeProto {
                    name: "sq".into(),
                    op_type: "Squeeze".into(),
                    attribute: vec![pb::AttributeProto {
                        name: "axes".into(),
                        ints: vec![0, 1 << 40],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(matches!(
            check_proto(&axes, &limits),
            Err(OnnxLimitError::BadAxis { value, .. }) if value == 1 << 40
        ));
    }

    #[test]
    fn resize_scales_and_sizes_past_any_generator_are_refused_naming_the_node() {
        // the fuzzer's input (corpus, seed 6, execution 10,656): a mutated Resize made
        // tract's declutter ask for a 32 GiB resampling table
        let resize = |scales: Vec<f32>, sizes: Vec<i64>| pb::ModelProto {
            graph: Some(pb::GraphProto {
                node: vec![pb::NodeProto {
                    name: "up".into(),
                    op_type: "Resize".into(),
                    input: vec!["x".into(), "".into(), "scales".into(), "sizes".into()],
                    output: vec!["y".into()],
                    ..Default::default()
                }],
                initializer: vec![
                    pb::TensorProto {
                        name: "scales".into(),
                        data_type: pb::tensor_proto::DataType::Float as i32,
                        dims: vec![scales.len() as i64],
                        raw_data: scales.iter().flat_map(|s| s.to_le_bytes()).collect(),
                        ..Default::default()
                    },
                    pb::TensorProto {
                        name: "sizes".into(),
                        data_type: pb::tensor_proto::DataType::Int64 as i32,
                        dims: vec![sizes.len() as i64],
                        int64_data: sizes,
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }),
            ..Default::default()
        };
        let limits = OnnxLimits::default();
        check_proto(&resize(vec![1.0, 1.0, 2.0, 2.0], vec![]), &limits).unwrap();
        check_proto(&resize(vec![], vec![1, 8, 56, 56]), &limits).unwrap();
        for (scales, message) in [
            (
                vec![1.0, 1.0, 2.0, 1.5e9],
                "scale 1500000000 is not in (0, 64]",
            ),
            (vec![1.0, 1.0, f32::NAN, 2.0], "scale NaN is not in (0, 64]"),
            (vec![1.0, -2.0], "scale -2 is not in (0, 64]"),
            (
                vec![1.0, 64.0, 64.0, 64.0],
                "the scales multiply the size by 262144, the limit is 4096",
            ),
        ] {
            let e = check_proto(&resize(scales, vec![]), &limits).unwrap_err();
            assert_eq!(e.to_string(), format!("node `up` (Resize): {message}"));
        }
        let e = check_proto(&resize(vec![], vec![1, 8, 1 << 20, 1 << 20]), &limits).unwrap_err();
        assert!(
            matches!(e, OnnxLimitError::TensorTooLarge { ref name, .. } if name == "up"),
            "{e}"
        );
    }

    #[test]
    fn an_output_nothing_defines_is_refused_naming_it() {
        // the fuzzer's input: a mutated output name made tract's parser panic ("no entry
        // found for key")
        let value = |name: &str| pb::ValueInfoProto {
            name: name.into(),
            ..Default::default()
        };
        let graph = |output: &str| pb::ModelProto {
            graph: Some(pb::GraphProto {
                node: vec![pb::NodeProto {
                    op_type: "Tanh".into(),
                    input: vec!["z".into()],
                    output: vec!["x".into()],
                    ..Default::default()
                }],
                input: vec![value("z")],
                output: vec![value(output)],
                ..Default::default()
            }),
            ..Default::default()
        };
        let limits = OnnxLimits::default();
        for defined in ["x", "z"] {
            check_proto(&graph(defined), &limits).unwrap();
        }
        let e = check_proto(&graph("y"), &limits).unwrap_err();
        assert_eq!(
            e.to_string(),
            "graph output `y` is not an input, an initializer or a node's output"
        );
    }

    #[test]
    fn string_tensors_are_refused_before_tract_sees_them() {
        // tract-onnx panics ("FIXME, raw tensor loading") on a string tensor stored raw
        let t = pb::TensorProto {
            name: "s".into(),
            data_type: pb::tensor_proto::DataType::String as i32,
            dims: vec![1],
            raw_data: b"abcd".to_vec(),
            ..Default::default()
        };
        let proto = pb::ModelProto {
            graph: Some(pb::GraphProto {
                initializer: vec![t],
                ..Default::default()
            }),
            ..Default::default()
        };
        let err = check_proto(&proto, &OnnxLimits::default()).unwrap_err();
        assert!(
            matches!(&err, OnnxLimitError::StringTensor { what: "initializer", name } if name == "s"),
            "{err}"
        );
    }
}
