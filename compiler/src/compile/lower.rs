//! Loading an ONNX generator with tract, and the walk that lowers its typed graph.

use std::collections::HashMap;

use tract_onnx::prelude::*;

use super::CompileError;
use super::ops;
use super::roles::{self, ResolvedRoles, Roles};
use crate::builder::{BuildError, Conv2dSpec, Graph, GraphBuilder, TensorId};
use crate::tract::caps::{self, OnnxLimitError, OnnxLimits};
use edgegan_runtime::ConditionKind;

/// A generator loaded by tract: the decluttered typed model and its roles.
pub(crate) struct Loaded {
    /// Batch 1, decluttered.
    pub model: TypedModel,
    /// The `z` input and its length.
    pub z: (OutletId, usize),
    /// tract's shape of `z`: `[1, Z]`, or `[1, Z, 1, 1]`.
    pub z_shape: Vec<usize>,
    /// The `label` input and the class count (rows of the table it indexes).
    pub label: Option<(OutletId, u32)>,
    /// The `mask` and `masked` inputs and their `[C, H, W]`.
    pub mask: Option<(OutletId, OutletId, [usize; 3])>,
    /// The generated object.
    pub output: OutletId,
    /// The input and output names of each role.
    pub roles: ResolvedRoles,
    /// ONNX op type by ONNX node name.
    pub onnx_ops: HashMap<String, String>,
}

fn onnx_err(e: impl std::fmt::Display) -> CompileError {
    CompileError::Onnx(format!("{e:#}"))
}

/// Parses `bytes`, gives each input its role ([`Roles`]), fixes the input facts at
/// batch 1 and declutters.
pub(crate) fn load(
    bytes: &[u8],
    roles: &Roles,
    limits: &OnnxLimits,
) -> Result<Loaded, CompileError> {
    let onnx = tract_onnx::onnx().with_ignore_value_info(true);
    let proto = caps::check(bytes, limits).map_err(|e| match e {
        OnnxLimitError::Decode(message) => CompileError::Onnx(message),
        e => CompileError::Limit(e),
    })?;
    // ONNX op types by node name, for errors (tract renames ops when it declutters)
    let onnx_ops: HashMap<String, String> = proto
        .graph
        .iter()
        .flat_map(|g| &g.node)
        .map(|n| (n.name.clone(), n.op_type.clone()))
        .collect();
    let mut model = caps::parse_with(&onnx, &proto, None).map_err(onnx_err)?;
    let (mut resolved, facts) = roles::resolve(&model, roles)?;
    let outlets = model.input_outlets().map_err(onnx_err)?.to_vec();
    for (ix, o) in outlets.iter().enumerate() {
        let name = model.node(o.node).name.clone();
        if let Some((_, fact)) = facts.iter().find(|(n, _)| *n == name) {
            model
                .set_input_fact(ix, fact.clone().into())
                .map_err(onnx_err)?;
        }
    }
    if let Some(name) = &roles.output {
        let outs = model.output_outlets().map_err(onnx_err)?.to_vec();
        let label = |o: &OutletId| {
            model
                .outlet_label(*o)
                .unwrap_or(&model.node(o.node).name)
                .to_string()
        };
        let all: Vec<String> = outs.iter().map(label).collect();
        let Some(o) = outs.iter().find(|o| label(o) == *name) else {
            return Err(CompileError::Contract(format!(
                "--output {name:?}: the model has no such output (outputs: {all:?})"
            )));
        };
        model.select_output_outlets(&[*o]).map_err(onnx_err)?;
    }
    let model = model.into_typed().map_err(onnx_err)?;
    // tract's declutter allocates for the shapes it was given (a Resize after a Pad of 2^30
    // rows asked for 32 GiB; found by the fuzzer): the typed shapes are checked first
    caps::check_typed(&model, limits).map_err(CompileError::Limit)?;
    let model = model.into_decluttered().map_err(onnx_err)?;
    let input = |name: &str| -> Result<OutletId, CompileError> {
        model
            .input_outlets()
            .map_err(onnx_err)?
            .iter()
            .copied()
            .find(|o| model.node(o.node).name == name)
            .ok_or_else(|| CompileError::Contract(format!("input {name:?} was removed")))
    };
    let z = input(&resolved.noise)?;
    let z_shape = model
        .outlet_fact(z)
        .ok()
        .and_then(|f| f.shape.as_concrete().map(<[usize]>::to_vec))
        .filter(|s| s.len() >= 2)
        .ok_or_else(|| CompileError::Contract("the noise has no known length".into()))?;
    let label = match &resolved.label {
        Some(l) => {
            let o = input(l)?;
            Some((o, label_classes(&model, o)?))
        }
        None => None,
    };
    let mask = match &resolved.mask {
        Some((m, x)) => {
            let (m, x) = (input(m)?, input(x)?);
            let shape = model
                .outlet_fact(m)
                .ok()
                .and_then(|f| f.shape.as_concrete().map(<[usize]>::to_vec));
            let Some(&[_, c, h, w]) = shape.as_deref() else {
                return Err(CompileError::Contract("the mask has no known shape".into()));
            };
            Some((m, x, [c, h, w]))
        }
        None => None,
    };
    let outputs = model.output_outlets().map_err(onnx_err)?;
    let [output] = outputs[..] else {
        return Err(CompileError::Contract(format!(
            "a generator has one output, this one has {}; say which with --output NAME",
            outputs.len()
        )));
    };
    resolved.output = model
        .outlet_label(output)
        .unwrap_or(&model.node(output.node).name)
        .to_string();
    let fact = model.outlet_fact(output).map_err(onnx_err)?;
    if fact.datum_type != f32::datum_type() {
        return Err(CompileError::Contract(format!(
            "the output must be float32, found {:?}",
            fact.datum_type
        )));
    }
    Ok(Loaded {
        model,
        z: (z, z_shape[1]),
        z_shape,
        label,
        mask,
        output,
        roles: resolved,
        onnx_ops,
    })
}

/// The class count: the rows of the constant table the label's Gather reads, or the
/// depth of its OneHot (through casts and axis changes).
fn label_classes(model: &TypedModel, label: OutletId) -> Result<u32, CompileError> {
    let mut frontier = vec![label];
    let mut seen = vec![label.node];
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
            } else if let Some(depth) = ops::one_hot_depth(model, node) {
                // F.one_hot(label, C), or dynamo's Equal(label, 0..C): C classes
                return u32::try_from(depth)
                    .map_err(|_| CompileError::Contract("too many classes".into()));
            } else if ops::is_label_passthrough(node) || of_label(model, &seen, node) {
                // casts and axis changes, or a computation on the label alone (a Keras
                // Embedding's wrap of negative indices through tf2onnx)
                if !seen.contains(&node.id) {
                    seen.push(node.id);
                    frontier.extend((0..node.outputs.len()).map(|i| OutletId::new(node.id, i)));
                }
            }
        }
    }
    Err(CompileError::Contract(
        "the label is not read by a Gather on a constant [classes, D] table or a OneHot".into(),
    ))
}

/// Whether every input of `node` is a constant or an output of a node in `label_nodes`.
fn of_label(model: &TypedModel, label_nodes: &[usize], node: &TypedNode) -> bool {
    node.inputs.iter().all(|o| {
        label_nodes.contains(&o.node) || model.outlet_fact(*o).is_ok_and(|f| f.konst.is_some())
    })
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
    /// The label one-hot encoded, not yet emitted: a product with it is a class table.
    OneHot(OneHotLabel),
    /// A function of the label alone, not yet emitted (a class embedding, and products and
    /// affines of it): added to a pending Dense it becomes that Dense's label-indexed bias.
    LabelTable(Box<LabelTable>),
}

/// A value computed from the label alone: row `c` of `rows` is its value for class `c`.
#[derive(Clone, Debug)]
pub(crate) struct LabelTable {
    /// `[classes, dim]`.
    pub rows: Vec<f32>,
    /// Elements of one row.
    pub dim: usize,
    /// tract's shape of the value (with batch; `dim` elements).
    pub shape: Vec<usize>,
}

impl LabelTable {
    /// Each row combined elementwise with `v` (`dim` values) by `f(row value, v)`.
    pub fn map_rows(&self, v: &[f32], f: impl Fn(f32, f32) -> f32) -> Vec<f32> {
        self.rows
            .chunks_exact(self.dim)
            .flat_map(|row| {
                row.iter()
                    .zip(v)
                    .map(|(&r, &x)| f(r, x))
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

/// `OneHot(label, classes)` with its off and on values: row `c` of `off + (on − off)·I`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OneHotLabel {
    pub classes: usize,
    pub off: f32,
    pub on: f32,
}

impl OneHotLabel {
    /// The class table of `x·Wᵀ` for `weight` `[n, classes]`: row `c` is
    /// `off·Σ_k W[·, k] + (on − off)·W[·, c]`, so a Gather of it is the product.
    pub fn table(&self, weight: &[f32], n: usize) -> Vec<f32> {
        let c = self.classes;
        let sums: Vec<f32> = weight.chunks_exact(c).map(|row| row.iter().sum()).collect();
        let mut table = vec![0.0; c * n];
        for (class, out) in table.chunks_exact_mut(n).enumerate() {
            for (j, v) in out.iter_mut().enumerate() {
                *v = self.off * sums[j] + (self.on - self.off) * weight[j * c + class];
            }
        }
        table
    }
}

/// A runtime tensor: its builder id and tract's shape for it (with the batch axis). The
/// data order is the same; the builder's shape may differ (see [`Lowerer::ensure`]).
#[derive(Clone, Debug)]
pub(crate) struct Act {
    pub id: TensorId,
    pub shape: Vec<usize>,
}

/// A pending Dense (`conv == None`, weight `[N, K]`), Conv2d or ConvTranspose2d (weight
/// `[M, C, KH, KW]`).
#[derive(Clone, Debug)]
pub(crate) struct Linear {
    pub input: TensorId,
    pub conv: Option<Conv2dSpec>,
    /// A transposed Conv2d (`conv` is its geometry): its output padding.
    pub transposed: Option<[usize; 2]>,
    pub out_channels: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    /// Dense only: `[classes, N]`, a bias per label added to `bias` (a class embedding's
    /// part of the product, folded; see `ops::binary`).
    pub label_bias: Option<Vec<f32>>,
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
    /// The label input and the class count, for a label-conditioned generator.
    pub label: Option<(OutletId, u32)>,
    /// The attempt of the node being lowered (see [`Lowerer::value`]).
    attempt: Attempt,
}

/// One attempt at lowering a node on the walk's stack.
///
/// Lowering is demand-driven: an op reads its inputs through [`Lowerer::value`] in its own
/// order, and what it emits between two reads lands between the ops of the nodes those
/// reads lower, which fixes the op order of the `.egm` bytes. The walk keeps the nodes
/// being lowered on an explicit stack instead of the call stack: a read of an outlet not
/// yet lowered ends the attempt ([`Attempt::missing`]), the walk lowers that node, then
/// runs the waiting node's lowering again from its start. That rerun replays the first
/// attempts: its first reads return what they returned then ([`Journal::reads`]), its
/// first records are not made twice ([`Journal::sets`]) and its first tensors are the ones
/// already made (the builder's replay), so every op is emitted once, at the place a
/// recursive walk would emit it.
#[derive(Default)]
struct Attempt {
    /// Whether a node's lowering is running (a read of an outlet not lowered yet then
    /// ends the attempt instead of lowering it).
    active: bool,
    /// The outlet a read found not lowered yet.
    missing: Option<OutletId>,
    journal: Journal,
    /// Reads of this attempt so far.
    reads: usize,
    /// Records (`set`) of this attempt so far.
    sets: usize,
}

/// What a node's earlier attempts did (see [`Attempt`]).
#[derive(Default)]
struct Journal {
    /// The values its reads returned, in order.
    reads: Vec<(OutletId, Value)>,
    /// How many records it made.
    sets: usize,
    /// The tensors it made (see [`GraphBuilder::start_replay`]).
    tensors: Vec<TensorId>,
}

/// A node on the walk's stack, lowered for `outlet`.
struct Frame {
    outlet: OutletId,
    journal: Journal,
}

impl<'m> Lowerer<'m> {
    /// The value of outlet `o`, lowering its node (and, first, what it reads) on demand.
    ///
    /// Inside a node's lowering, a read of an outlet not lowered yet ends the attempt
    /// with an error the walk catches (see [`Attempt`]); outside, it runs the walk.
    pub fn value(&mut self, o: OutletId) -> Result<Value, CompileError> {
        let a = &mut self.attempt;
        if a.missing.is_some() {
            return Err(self.missing_error());
        }
        if !a.active {
            return match self.values.get(&o) {
                Some(v) => Ok(v.clone()),
                None => self.walk(o),
            };
        }
        if let Some((at, v)) = a.journal.reads.get(a.reads) {
            // a rerun: what the earlier attempt read here (the same outlet)
            debug_assert_eq!(*at, o, "a lowering read in a different order when rerun");
            a.reads += 1;
            return Ok(v.clone());
        }
        match self.values.get(&o) {
            Some(v) => {
                a.journal.reads.push((o, v.clone()));
                a.reads += 1;
                Ok(v.clone())
            }
            None => {
                a.missing = Some(o);
                Err(self.missing_error())
            }
        }
    }

    /// The error that ends an attempt at a read of an outlet not lowered yet (the walk
    /// catches it; a lowering passes it on with `?`).
    fn missing_error(&self) -> CompileError {
        let node = self
            .attempt
            .missing
            .map(|o| self.model.node(o.node).name.clone());
        CompileError::Contract(format!("internal: {node:?} was read before it was lowered"))
    }

    /// Lowers the node of `root` and, first, every node it reads that is not lowered
    /// yet, with an explicit stack of nodes (see [`Attempt`]); then `root`'s value.
    fn walk(&mut self, root: OutletId) -> Result<Value, CompileError> {
        let model = self.model;
        let mut stack = vec![Frame {
            outlet: root,
            journal: Journal::default(),
        }];
        // the nodes on the stack
        let mut waiting = vec![false; model.nodes.len()];
        if let Some(w) = waiting.get_mut(root.node) {
            *w = true;
        }
        while let Some(frame) = stack.last_mut() {
            let node = model.node(frame.outlet.node);
            self.builder
                .start_replay(std::mem::take(&mut frame.journal.tensors));
            self.attempt = Attempt {
                active: true,
                journal: std::mem::take(&mut frame.journal),
                ..Attempt::default()
            };
            let result = self.lower_node(node);
            let attempt = std::mem::take(&mut self.attempt);
            frame.journal = attempt.journal;
            frame.journal.sets = frame.journal.sets.max(attempt.sets);
            frame.journal.tensors = self.builder.stop_replay();
            match (attempt.missing, result) {
                (Some(next), _) => {
                    // a DAG has no cycle; a node read while it is waiting would be one
                    match waiting.get_mut(next.node) {
                        Some(w) if !*w => *w = true,
                        _ => return Err(unsupported(node, "its inputs form a cycle")),
                    }
                    stack.push(Frame {
                        outlet: next,
                        journal: Journal::default(),
                    });
                }
                (None, Err(e)) => return Err(e),
                (None, Ok(())) => {
                    if !self.values.contains_key(&frame.outlet) {
                        return Err(unsupported(
                            node,
                            "lowering produced no value for this output",
                        ));
                    }
                    waiting[frame.outlet.node] = false;
                    stack.pop();
                }
            }
        }
        self.values
            .get(&root)
            .cloned()
            .ok_or_else(|| unsupported(model.node(root.node), "lowering produced no value"))
    }

    /// Outlet `o` as a runtime tensor (emitting a pending Dense/Conv2d, or a constant).
    pub fn act(&mut self, o: OutletId) -> Result<Act, CompileError> {
        let node = self.model.node(o.node);
        match self.value(o)? {
            Value::Act(a) => Ok(a),
            Value::Linear(l) => {
                let (w, b) = (&l.weight, Some(&l.bias[..]));
                let r = match (l.conv, l.transposed) {
                    (Some(spec), Some(adj)) => {
                        self.builder.conv_transpose2d(l.input, spec, adj, w, b)
                    }
                    (Some(spec), None) => self.builder.conv2d(l.input, spec, w, b),
                    (None, _) => match &l.label_bias {
                        Some(t) => self
                            .builder
                            .dense_label_bias(l.input, l.out_channels, w, b, t),
                        None => self.builder.dense(l.input, l.out_channels, w, b),
                    },
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
            Value::OneHot(h) => {
                // read other than by a product: the one-hot vectors themselves
                let identity = (0..h.classes).map(|c| {
                    let mut w = vec![0.0; h.classes];
                    w[c] = 1.0;
                    w
                });
                let weight: Vec<f32> = identity.flatten().collect();
                let r = self
                    .builder
                    .label_embedding(&h.table(&weight, h.classes), h.classes);
                let id = self.build(node, r)?;
                let a = Act {
                    id,
                    shape: vec![1, h.classes],
                };
                self.set(o, Value::Act(a.clone()));
                Ok(a)
            }
            Value::LabelTable(t) => {
                // read other than as a bias: the class embedding op
                let r = self.builder.label_embedding(&t.rows, t.dim);
                let id = self.build(node, r)?;
                let a = Act { id, shape: t.shape };
                self.set(o, Value::Act(a.clone()));
                Ok(a)
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

    /// The value of outlet `o` when the label is `class`, if `o` is computed from the label
    /// and constants alone (tf2onnx writes Keras' `Embedding` with a wrap of negative
    /// indices, `label < 0 ? label + C : label`, as Less, Cast, Mul and Add), evaluated by
    /// tract node by node.
    pub fn of_label(&self, o: OutletId, class: i64) -> Option<Arc<Tensor>> {
        // post-order with an explicit stack: the subgraph may be as deep as the model
        let mut done: HashMap<OutletId, Arc<Tensor>> = HashMap::new();
        let mut stack = vec![(o, false)];
        while let Some((at, inputs_done)) = stack.pop() {
            if done.contains_key(&at) {
                continue;
            }
            let fact = self.model.outlet_fact(at).ok()?;
            let node = self.model.node(at.node);
            let value = if let Some(k) = &fact.konst {
                k.clone()
            } else if self.label.is_some_and(|(l, _)| l == at) {
                let shape = fact.shape.as_concrete()?;
                let t = Tensor::from_shape(shape, &[class]).ok()?;
                t.cast_to_dt(fact.datum_type)
                    .ok()?
                    .into_owned()
                    .into_arc_tensor()
            } else if node.inputs.is_empty() {
                return None;
            } else if !inputs_done {
                stack.push((at, true));
                stack.extend(node.inputs.iter().rev().map(|&i| (i, false)));
                continue;
            } else {
                let inputs = node
                    .inputs
                    .iter()
                    .map(|i| done.get(i).map(|t| t.clone().into_tvalue()))
                    .collect::<Option<TVec<TValue>>>()?;
                let out = node.op.eval_out_of_plan(inputs).ok()??;
                out.into_iter().nth(at.slot)?.into_arc_tensor()
            };
            done.insert(at, value);
        }
        done.remove(&o)
    }

    /// Whether a consumer may take over outlet `o`'s pending value (fold into it): it has
    /// exactly one reader and is not the model output.
    pub fn exclusive(&self, o: OutletId) -> bool {
        o != self.output && self.model.outlet_successors(o).len() == 1
    }

    /// Records what outlet `o` became (once: a rerun of an attempt does not repeat the
    /// records the earlier attempts made).
    pub fn set(&mut self, o: OutletId, v: Value) {
        let a = &mut self.attempt;
        if a.active {
            a.sets += 1;
            if a.sets <= a.journal.sets {
                return;
            }
        }
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
pub(crate) fn lower(
    loaded: &Loaded,
    value_range: Option<(f32, f32)>,
) -> Result<Graph, CompileError> {
    check_supported(loaded)?;
    let value_range = value_range.unwrap_or_else(|| final_range(loaded));
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
        label: loaded.label,
        attempt: Attempt::default(),
    };
    let noise = cx.builder.noise();
    cx.set(
        loaded.z.0,
        Value::Act(Act {
            id: noise,
            shape: loaded.z_shape.clone(),
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

/// Every node on the way to the output that no lowering handles, reported at once (a
/// user fixing a foreign model wants the whole list, not one op per compile).
fn check_supported(loaded: &Loaded) -> Result<(), CompileError> {
    let model = &loaded.model;
    let order = model.eval_order().map_err(onnx_err)?;
    let mut missing = vec![];
    // nodes computed from the label and constants alone: folded into the class table of
    // the Gather that reads them (see `ops::gather`)
    let mut label_nodes: Vec<usize> = loaded.label.iter().map(|(o, _)| o.node).collect();
    for id in order {
        let node = model.node(id);
        let konst = |o: &OutletId| model.outlet_fact(*o).is_ok_and(|f| f.konst.is_some());
        let is_const = node
            .op_as::<tract_onnx::tract_core::ops::konst::Const>()
            .is_some();
        if is_const || node.inputs.is_empty() || node.inputs.iter().all(konst) {
            continue;
        }
        if of_label(model, &label_nodes, node) {
            label_nodes.push(id);
            continue;
        }
        let name = node.op.name();
        if ops::lookup(&name).is_none() {
            missing.push(super::UnsupportedOp {
                node: node.name.clone(),
                onnx_op: onnx_op(loaded, &node.name),
                op: name.to_string(),
            });
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(CompileError::UnsupportedOps(missing))
    }
}

/// The ONNX op type of a tract node: by its name, or the ONNX node it was expanded from
/// (tract names the parts `<onnx name>.<part>`).
fn onnx_op(loaded: &Loaded, name: &str) -> String {
    let mut n = name;
    loop {
        if let Some(op) = loaded.onnx_ops.get(n) {
            return op.clone();
        }
        match n.rfind('.') {
            Some(i) => n = &n[..i],
            None => return "?".into(),
        }
    }
}

/// The output range a graph without edgegan metadata is trained to, from its final
/// activation (through reshapes): sigmoid `[0, 1]`, otherwise tanh's `[-1, 1]`.
fn final_range(loaded: &Loaded) -> (f32, f32) {
    let model = &loaded.model;
    let mut node = model.node(loaded.output.node);
    while matches!(
        &*node.op.name(),
        "Reshape" | "AddAxis" | "RmAxis" | "IntoShape" | "MoveAxis"
    ) {
        node = model.node(node.inputs[0].node);
    }
    if node.op.name() == "Sigmoid" {
        (0.0, 1.0)
    } else {
        (-1.0, 1.0)
    }
}
