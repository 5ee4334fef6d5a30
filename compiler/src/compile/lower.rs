//! Loading an ONNX generator with tract, and the walk that lowers its typed graph.

use std::collections::HashMap;

use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;
use tract_onnx::tract_hir::internal::DimLike;

use super::CompileError;
use super::ops;
use crate::builder::{BuildError, Conv2dSpec, Graph, GraphBuilder, TensorId};
use edgegan_runtime::ConditionKind;
use edgegan_runtime::contract;

/// A generator loaded by tract: the decluttered typed model and its roles.
pub(crate) struct Loaded {
    /// Batch 1, decluttered.
    pub model: TypedModel,
    /// The `z` input and its length.
    pub z: (OutletId, usize),
    /// The `label` input and the class count (rows of the table it indexes).
    pub label: Option<(OutletId, u32)>,
    /// The `mask` and `masked` inputs and their `[C, H, W]`.
    pub mask: Option<(OutletId, OutletId, [usize; 3])>,
    /// The generated object.
    pub output: OutletId,
}

fn onnx_err(e: impl std::fmt::Display) -> CompileError {
    CompileError::Onnx(format!("{e:#}"))
}

/// tract's name for an input's dim `i` if it is a concrete size.
fn input_dims(model: &InferenceModel, ix: usize) -> Result<Vec<Option<usize>>, CompileError> {
    let fact = model.input_fact(ix).map_err(onnx_err)?;
    Ok(fact
        .shape
        .dims()
        .map(|d| d.concretize().and_then(|d| d.to_usize().ok()))
        .collect())
}

/// Parses `bytes`, fixes the input facts at batch 1 and declutters.
pub(crate) fn load(bytes: &[u8]) -> Result<Loaded, CompileError> {
    let mut model = tract_onnx::onnx()
        .with_ignore_value_info(true)
        .model_for_read(&mut &*bytes)
        .map_err(onnx_err)?;
    let names: Vec<String> = model
        .input_outlets()
        .map_err(onnx_err)?
        .iter()
        .map(|o| model.node(o.node).name.clone())
        .collect();
    let mut z_dim = None;
    let mut has_label = false;
    let mut mask_shape = None;
    for (ix, name) in names.iter().enumerate() {
        let dims = input_dims(&model, ix)?;
        let fact = match name.as_str() {
            contract::Z => {
                let [_, Some(z)] = dims[..] else {
                    return Err(CompileError::Contract(format!(
                        "input z must be float [N, Z] with a known Z, found {} dims",
                        dims.len()
                    )));
                };
                z_dim = Some(z);
                f32::fact([1, z])
            }
            contract::LABEL => {
                has_label = true;
                i64::fact([1])
            }
            contract::MASK | contract::MASKED => {
                let [_, Some(c), Some(h), Some(w)] = dims[..] else {
                    return Err(CompileError::Contract(format!(
                        "input {name} must be float [N, C, H, W] with known C, H, W"
                    )));
                };
                if mask_shape.is_some_and(|s| s != [c, h, w]) {
                    return Err(CompileError::Contract(
                        "mask and masked have different shapes".into(),
                    ));
                }
                mask_shape = Some([c, h, w]);
                f32::fact([1, c, h, w])
            }
            other => {
                return Err(CompileError::Contract(format!(
                    "unexpected input {other:?} (a generator takes z, and label or mask/masked)"
                )));
            }
        };
        model.set_input_fact(ix, fact.into()).map_err(onnx_err)?;
    }
    let z_dim =
        z_dim.ok_or_else(|| CompileError::Contract("the model has no input named z".into()))?;
    let has_mask = names.iter().any(|n| n == contract::MASK);
    if has_mask != names.iter().any(|n| n == contract::MASKED) {
        return Err(CompileError::Contract(
            "a mask generator takes both mask and masked".into(),
        ));
    }
    if has_label && has_mask {
        return Err(CompileError::Contract(
            "a generator takes a label or a mask, not both".into(),
        ));
    }
    let model = model
        .into_typed()
        .and_then(|m| m.into_decluttered())
        .map_err(onnx_err)?;
    let input = |name: &str| -> Option<OutletId> {
        model
            .input_outlets()
            .ok()?
            .iter()
            .copied()
            .find(|o| model.node(o.node).name == name)
    };
    let z = input(contract::Z).ok_or_else(|| CompileError::Contract("z was removed".into()))?;
    let label = match input(contract::LABEL).filter(|_| has_label) {
        Some(o) => Some((o, label_classes(&model, o)?)),
        None => None,
    };
    let mask = match (input(contract::MASK), input(contract::MASKED), mask_shape) {
        (Some(m), Some(x), Some(s)) => Some((m, x, s)),
        _ => None,
    };
    let outputs = model.output_outlets().map_err(onnx_err)?;
    let [output] = outputs[..] else {
        return Err(CompileError::Contract(format!(
            "a generator has one output, this one has {}",
            outputs.len()
        )));
    };
    let fact = model.outlet_fact(output).map_err(onnx_err)?;
    if fact.datum_type != f32::datum_type() {
        return Err(CompileError::Contract(format!(
            "the output must be float32, found {:?}",
            fact.datum_type
        )));
    }
    Ok(Loaded {
        model,
        z: (z, z_dim),
        label,
        mask,
        output,
    })
}

/// The class count: the rows of the constant table the label's Gather reads (through
/// casts and axis changes).
fn label_classes(model: &TypedModel, label: OutletId) -> Result<u32, CompileError> {
    let mut frontier = vec![label];
    while let Some(o) = frontier.pop() {
        for succ in &model.outlet_successors(o).to_vec() {
            let node = model.node(succ.node);
            if let Some(g) = node.op_as::<tract_onnx::tract_core::ops::array::Gather>() {
                let data = model.outlet_fact(node.inputs[0]).map_err(onnx_err)?;
                if let (0, Some(table), 1) = (g.axis, data.konst.as_ref(), succ.slot)
                    && let Some(&classes) = table.shape().first()
                {
                    return u32::try_from(classes)
                        .map_err(|_| CompileError::Contract("too many classes".into()));
                }
            } else if ops::is_label_passthrough(node) {
                frontier.extend((0..node.outputs.len()).map(|i| OutletId::new(node.id, i)));
            }
        }
    }
    Err(CompileError::Contract(
        "the label is not read by a Gather on a constant [classes, D] table".into(),
    ))
}

/// What an outlet of the tract graph became.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    /// A constant (folded).
    Const(Arc<Tensor>),
    /// The class label (only a Gather on a constant table may read it).
    Label,
    /// A runtime tensor.
    Act(Act),
    /// A Dense/Conv2d not yet emitted, so that biases and affines can fold into it.
    Linear(Box<Linear>),
}

/// A runtime tensor: its builder id and tract's shape for it (with the batch axis). The
/// data order is the same; the builder's shape may differ (see [`Lowerer::ensure`]).
#[derive(Clone, Debug)]
pub(crate) struct Act {
    pub id: TensorId,
    pub shape: Vec<usize>,
}

/// A pending Dense (`conv == None`, weight `[N, K]`) or Conv2d (weight `[M, C, KH, KW]`).
#[derive(Clone, Debug)]
pub(crate) struct Linear {
    pub input: TensorId,
    pub conv: Option<Conv2dSpec>,
    pub out_channels: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    /// tract's shape of the output (with batch); follows reshapes.
    pub shape: Vec<usize>,
    /// Conv2d only: the shape it produces, `[1, M, H, W]` (an affine folds only there).
    pub conv_shape: Vec<usize>,
}

impl Linear {
    /// The per-output-element factor of a constant that broadcasts to this layer's output,
    /// as one value per output channel; `None` if it varies within a Conv2d channel.
    pub fn channel_vector(&self, c: &Tensor) -> Option<Vec<f32>> {
        let full = broadcast(c, &self.shape)?;
        if self.conv.is_none() {
            return Some(full);
        }
        if self.shape != self.conv_shape {
            return None;
        }
        let per = full.len() / self.out_channels.max(1);
        let v: Vec<f32> = full.chunks(per.max(1)).map(|ch| ch[0]).collect();
        full.chunks(per.max(1))
            .all(|ch| ch.iter().all(|&x| x == ch[0]))
            .then_some(v)
    }
}

/// `t` as f32 values broadcast (numpy rules) to `shape`, row-major.
pub(crate) fn broadcast(t: &Tensor, shape: &[usize]) -> Option<Vec<f32>> {
    let t = t.cast_to::<f32>().ok()?;
    let view = t.to_plain_array_view::<f32>().ok()?;
    // a single value (of any rank, e.g. [1, 1, 1, 1]) fills any shape
    if view.len() == 1 {
        let v = *view.iter().next()?;
        return Some(vec![v; shape.iter().product()]);
    }
    let b = view.broadcast(tract_ndarray::IxDyn(shape))?;
    Some(b.iter().copied().collect())
}

/// The shape the runtime uses for a tract shape: without the leading batch axis.
pub(crate) fn runtime_shape(shape: &[usize]) -> Vec<usize> {
    match shape {
        [1, rest @ ..] if !rest.is_empty() => rest.to_vec(),
        [] => vec![1],
        s => s.to_vec(),
    }
}

/// The walk's state: the tract model, the builder, and what each outlet became.
pub(crate) struct Lowerer<'m> {
    pub model: &'m TypedModel,
    pub builder: GraphBuilder,
    values: HashMap<OutletId, Value>,
    output: OutletId,
}

impl<'m> Lowerer<'m> {
    /// The value of outlet `o`, lowering its node (and, first, what it reads) on demand.
    pub fn value(&mut self, o: OutletId) -> Result<Value, CompileError> {
        if let Some(v) = self.values.get(&o) {
            return Ok(v.clone());
        }
        let node = self.model.node(o.node);
        self.lower_node(node)?;
        self.values
            .get(&o)
            .cloned()
            .ok_or_else(|| unsupported(node, "lowering produced no value for this output"))
    }

    /// Outlet `o` as a runtime tensor (emitting a pending Dense/Conv2d, or a constant).
    pub fn act(&mut self, o: OutletId) -> Result<Act, CompileError> {
        let node = self.model.node(o.node);
        match self.value(o)? {
            Value::Act(a) => Ok(a),
            Value::Linear(l) => {
                let r = match l.conv {
                    Some(spec) => self.builder.conv2d(l.input, spec, &l.weight, Some(&l.bias)),
                    None => self
                        .builder
                        .dense(l.input, l.out_channels, &l.weight, Some(&l.bias)),
                };
                let id = self.build(node, r)?;
                let a = Act { id, shape: l.shape };
                self.set(o, Value::Act(a.clone()));
                Ok(a)
            }
            Value::Const(t) => {
                let shape = t.shape().to_vec();
                let values = broadcast(&t, &shape)
                    .ok_or_else(|| unsupported(node, "a non-numeric constant"))?;
                let r = self.builder.constant(&runtime_shape(&shape), &values);
                let id = self.build(node, r)?;
                Ok(Act { id, shape })
            }
            Value::Label => Err(unsupported(
                node,
                "the label is used other than as the index of a Gather on a constant table",
            )),
        }
    }

    /// The builder tensor of `a` with the runtime shape `shape` (a Reshape if needed).
    pub fn ensure(
        &mut self,
        node: &TypedNode,
        a: &Act,
        shape: &[usize],
    ) -> Result<TensorId, CompileError> {
        if self.builder.shape(a.id) == Some(shape) {
            return Ok(a.id);
        }
        let r = self.builder.reshape(a.id, shape);
        self.build(node, r)
    }

    /// Whether a consumer may take over outlet `o`'s pending value (fold into it): it has
    /// exactly one reader and is not the model output.
    pub fn exclusive(&self, o: OutletId) -> bool {
        o != self.output && self.model.outlet_successors(o).len() == 1
    }

    /// Records what outlet `o` became.
    pub fn set(&mut self, o: OutletId, v: Value) {
        self.values.insert(o, v);
    }

    /// Records a node's only output as a runtime tensor of tract's output shape.
    pub fn set_act(&mut self, node: &TypedNode, id: TensorId) -> Result<(), CompileError> {
        let shape = self.out_shape(node, 0)?;
        self.set(OutletId::new(node.id, 0), Value::Act(Act { id, shape }));
        Ok(())
    }

    /// tract's concrete shape of output `slot` of `node`.
    pub fn out_shape(&self, node: &TypedNode, slot: usize) -> Result<Vec<usize>, CompileError> {
        self.shape_of(node, OutletId::new(node.id, slot))
    }

    /// tract's concrete shape of outlet `o` (`node` names the error).
    pub fn shape_of(&self, node: &TypedNode, o: OutletId) -> Result<Vec<usize>, CompileError> {
        let fact = self
            .model
            .outlet_fact(o)
            .map_err(|e| unsupported(node, &format!("{e:#}")))?;
        fact.shape
            .as_concrete()
            .map(<[usize]>::to_vec)
            .ok_or_else(|| unsupported(node, &format!("symbolic shape {:?}", fact.shape)))
    }

    /// A builder result with the node named in its error.
    pub fn build<T>(&self, node: &TypedNode, r: Result<T, BuildError>) -> Result<T, CompileError> {
        r.map_err(|source| CompileError::Lowering {
            node: node.name.clone(),
            op: node.op.name().to_string(),
            source,
        })
    }

    fn lower_node(&mut self, node: &'m TypedNode) -> Result<(), CompileError> {
        if let Some(c) = node.op_as::<tract_onnx::tract_core::ops::konst::Const>() {
            self.set(OutletId::new(node.id, 0), Value::Const(c.val().clone()));
            return Ok(());
        }
        if node.inputs.is_empty() {
            return Err(unsupported(
                node,
                "an input that is not z, label, mask or masked",
            ));
        }
        if let Some(outputs) = self.fold_constant(node)? {
            for (i, t) in outputs.into_iter().enumerate() {
                self.set(OutletId::new(node.id, i), Value::Const(t));
            }
            return Ok(());
        }
        let name = node.op.name();
        let lower = ops::lookup(&name)
            .ok_or_else(|| unsupported(node, "no lowering to .egm for this op"))?;
        lower(self, node)
    }

    /// Evaluates a node whose inputs are all constants.
    fn fold_constant(&self, node: &TypedNode) -> Result<Option<Vec<Arc<Tensor>>>, CompileError> {
        let mut inputs = TVec::new();
        for &i in &node.inputs {
            match self.model.outlet_fact(i).ok().and_then(|f| f.konst.clone()) {
                Some(t) => inputs.push(t.into_tvalue()),
                None => return Ok(None),
            }
        }
        let out = node
            .op
            .eval_out_of_plan(inputs)
            .map_err(|e| unsupported(node, &format!("constant folding failed: {e:#}")))?;
        Ok(out.map(|o| o.into_iter().map(|v| v.into_arc_tensor()).collect()))
    }
}

/// An unsupported-node error.
pub(crate) fn unsupported(node: &TypedNode, reason: &str) -> CompileError {
    CompileError::Unsupported {
        node: node.name.clone(),
        op: node.op.name().to_string(),
        reason: reason.to_string(),
    }
}

/// Lowers a loaded generator to an f32 graph.
pub(crate) fn lower(loaded: &Loaded, value_range: (f32, f32)) -> Result<Graph, CompileError> {
    let condition = match (loaded.label, loaded.mask) {
        (Some((_, classes)), _) => ConditionKind::Label { classes },
        (None, Some((_, _, [c, h, w]))) => {
            let d = |v: usize| {
                u32::try_from(v).map_err(|_| CompileError::Contract("mask too large".into()))
            };
            ConditionKind::Mask {
                channels: d(c)?,
                height: d(h)?,
                width: d(w)?,
            }
        }
        (None, None) => ConditionKind::None,
    };
    let builder = GraphBuilder::new(loaded.z.1, condition);
    let mut cx = Lowerer {
        model: &loaded.model,
        values: HashMap::new(),
        output: loaded.output,
        builder,
    };
    let noise = cx.builder.noise();
    cx.set(
        loaded.z.0,
        Value::Act(Act {
            id: noise,
            shape: vec![1, loaded.z.1],
        }),
    );
    if let Some((label, _)) = loaded.label {
        cx.set(label, Value::Label);
    }
    if let (Some((m, x, s)), Some(mid), Some(xid)) =
        (loaded.mask, cx.builder.mask(), cx.builder.masked())
    {
        let shape = vec![1, s[0], s[1], s[2]];
        cx.set(
            m,
            Value::Act(Act {
                id: mid,
                shape: shape.clone(),
            }),
        );
        cx.set(x, Value::Act(Act { id: xid, shape }));
    }
    let out = cx.act(loaded.output)?;
    let node = loaded.model.node(loaded.output.node);
    let id = cx.ensure(node, &out, &runtime_shape(&out.shape))?;
    let id = if id == noise || Some(id) == cx.builder.mask() || Some(id) == cx.builder.masked() {
        // The output must be computed: copy an input through a Reshape.
        let r = cx.builder.reshape(id, &runtime_shape(&out.shape));
        cx.build(node, r)?
    } else {
        id
    };
    Ok(cx.builder.finish(id, value_range)?)
}
