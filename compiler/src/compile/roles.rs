//! Which ONNX input is the noise, which the condition, which output the object: by role,
//! not by name. Given explicitly ([`Roles`], `firmware-sim compile --noise … --label …`)
//! or inferred when the graph leaves one choice (one float `[N, Z]` input is the noise,
//! one integer `[N]` input the label); edgegan's own names (`z`, `label`, `mask`,
//! `masked`) are that choice without looking further. A foreign graph that leaves more
//! than one choice is an error naming the inputs and the flag that settles it.

use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;
use tract_onnx::tract_hir::internal::DimLike;

use super::CompileError;
use edgegan_runtime::contract::{LABEL, MASK, MASKED, Z};

/// The ONNX input and output names of a generator's roles; `None` means "infer".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Roles {
    /// The noise input (float `[N, Z]`).
    pub noise: Option<String>,
    /// The class label input (integer `[N]`).
    pub label: Option<String>,
    /// The mask and masked-object inputs (float `[N, C, H, W]` each).
    pub mask: Option<(String, String)>,
    /// The generated object (when the graph has several outputs).
    pub output: Option<String>,
}

/// The roles a compile used, and whether they were inferred (for the CLI to print).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResolvedRoles {
    /// The noise input.
    pub noise: String,
    /// The label input, if label-conditioned.
    pub label: Option<String>,
    /// The mask and masked inputs, if mask-conditioned.
    pub mask: Option<(String, String)>,
    /// The output.
    pub output: String,
    /// Whether any input role was inferred rather than named by [`Roles`] or by edgegan's
    /// own input names.
    pub inferred: bool,
}

impl std::fmt::Display for ResolvedRoles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "noise {:?}", self.noise)?;
        if let Some(l) = &self.label {
            write!(f, ", label {l:?}")?;
        }
        if let Some((m, x)) = &self.mask {
            write!(f, ", mask {m:?}, masked {x:?}")?;
        }
        write!(f, ", output {:?}", self.output)
    }
}

/// What an input looks like before any role is given to it.
struct Input {
    name: String,
    /// Concrete dims (`None` for symbolic or unknown).
    dims: Vec<Option<usize>>,
    dtype: Option<DatumType>,
}

impl Input {
    fn is_float(&self) -> bool {
        self.dtype.is_some_and(|t| t.is_float())
    }
    fn is_integer(&self) -> bool {
        self.dtype.is_some_and(|t| t.is_integer())
    }
    fn describe(&self) -> String {
        let dims: Vec<String> = self
            .dims
            .iter()
            .map(|d| d.map_or("?".into(), |d| d.to_string()))
            .collect();
        let t = self
            .dtype
            .map_or("unknown type".into(), |t| format!("{t:?}"));
        format!("{:?} ({t} [{}])", self.name, dims.join(", "))
    }
}

fn contract(msg: String) -> CompileError {
    CompileError::Contract(msg)
}

/// The role of each input of `model`, by name: checked against [`Roles`] or inferred.
/// Returns the roles (output still empty) and the batch-1 fact of each input.
pub(crate) fn resolve(
    model: &InferenceModel,
    roles: &Roles,
) -> Result<(ResolvedRoles, Vec<(String, TypedFact)>), CompileError> {
    let outlets = model
        .input_outlets()
        .map_err(|e| CompileError::Onnx(format!("{e:#}")))?;
    let mut inputs = vec![];
    for (ix, o) in outlets.iter().enumerate() {
        let fact = model
            .input_fact(ix)
            .map_err(|e| CompileError::Onnx(format!("{e:#}")))?;
        inputs.push(Input {
            name: model.node(o.node).name.clone(),
            dims: fact
                .shape
                .dims()
                .map(|d| d.concretize().and_then(|d| d.to_usize().ok()))
                .collect(),
            dtype: fact.datum_type.concretize(),
        });
    }
    let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
    let find = |flag: &str, name: &str| -> Result<usize, CompileError> {
        names.iter().position(|n| *n == name).ok_or_else(|| {
            contract(format!(
                "--{flag} {name:?}: the model has no such input (inputs: {names:?})"
            ))
        })
    };
    let explicit = roles.noise.is_some() || roles.label.is_some() || roles.mask.is_some();
    let own = names.contains(&Z) && names.iter().all(|n| [Z, LABEL, MASK, MASKED].contains(n));
    let (noise, label, mask, inferred) = if explicit || own {
        let noise = match &roles.noise {
            Some(n) => find("noise", n)?,
            None if own => find("noise", Z)?,
            None => infer_noise(&inputs, roles)?,
        };
        let label = match &roles.label {
            Some(n) => Some(find("label", n)?),
            None if own => names.iter().position(|n| *n == LABEL),
            None => None,
        };
        let mask = match &roles.mask {
            Some((m, x)) => Some((find("mask", m)?, find("masked", x)?)),
            None if own => match (
                names.iter().position(|n| *n == MASK),
                names.iter().position(|n| *n == MASKED),
            ) {
                (Some(m), Some(x)) => Some((m, x)),
                (None, None) => None,
                _ => {
                    return Err(contract(
                        "a mask generator takes both mask and masked".into(),
                    ));
                }
            },
            None => None,
        };
        (noise, label, mask, !own && roles.noise.is_none())
    } else {
        let noise = infer_noise(&inputs, roles)?;
        let ints: Vec<usize> = (0..inputs.len())
            .filter(|&i| i != noise && inputs[i].is_integer())
            .collect();
        let label = match ints[..] {
            [] => None,
            [l] => Some(l),
            _ => {
                return Err(contract(format!(
                    "several integer inputs could be the label: {}; say which with --label NAME",
                    list(&inputs, &ints)
                )));
            }
        };
        (noise, label, None, true)
    };
    if label.is_some() && mask.is_some() {
        return Err(contract(
            "a generator takes a label or a mask, not both".into(),
        ));
    }
    let mut facts = vec![];
    let z = &inputs[noise];
    // [N, Z], or PyTorch's DCGAN tutorial's [N, Z, 1, 1]
    let z_dims: Option<Vec<usize>> = match z.dims[..] {
        [_, Some(z_len), ref rest @ ..] if z.is_float() && rest.iter().all(|&d| d == Some(1)) => {
            Some(
                [1, z_len]
                    .into_iter()
                    .chain(rest.iter().map(|_| 1))
                    .collect(),
            )
        }
        _ => None,
    };
    let Some(z_dims) = z_dims else {
        return Err(contract(format!(
            "noise input {} must be float [N, Z] (or [N, Z, 1, 1]) with a known Z",
            z.describe()
        )));
    };
    facts.push((z.name.clone(), f32::fact(&z_dims)));
    if let Some(l) = label {
        let l = &inputs[l];
        match (l.dtype, l.dims.len()) {
            (Some(t), 1) if t.is_integer() => facts.push((l.name.clone(), t.fact([1]))),
            _ => {
                return Err(contract(format!(
                    "label input {} must be an integer [N] class index (int64 or int32)",
                    l.describe()
                )));
            }
        }
    }
    if let Some((m, x)) = mask {
        let mut shape = None;
        for i in [m, x] {
            let input = &inputs[i];
            let [_, Some(c), Some(h), Some(w)] = input.dims[..] else {
                return Err(contract(format!(
                    "mask input {} must be float [N, C, H, W] with known C, H, W \
                     (dynamic spatial shapes are not supported: export with fixed sizes)",
                    input.describe()
                )));
            };
            if !input.is_float() {
                return Err(contract(format!(
                    "mask input {} must be float",
                    input.describe()
                )));
            }
            if shape.is_some_and(|s| s != [c, h, w]) {
                return Err(contract("mask and masked have different shapes".into()));
            }
            shape = Some([c, h, w]);
            facts.push((input.name.clone(), f32::fact([1, c, h, w])));
        }
    }
    // every input must have a role
    let used: Vec<usize> = [Some(noise), label, mask.map(|m| m.0), mask.map(|m| m.1)]
        .into_iter()
        .flatten()
        .collect();
    if let Some(extra) = (0..inputs.len()).find(|i| !used.contains(i)) {
        return Err(contract(format!(
            "input {} has no role: name the noise, the label (--label NAME) or the mask \
             (--mask NAME --masked NAME); the inputs are {}",
            inputs[extra].describe(),
            list(&inputs, &(0..inputs.len()).collect::<Vec<_>>())
        )));
    }
    let resolved = ResolvedRoles {
        noise: z.name.clone(),
        label: label.map(|l| inputs[l].name.clone()),
        mask: mask.map(|(m, x)| (inputs[m].name.clone(), inputs[x].name.clone())),
        output: String::new(),
        inferred,
    };
    Ok((resolved, facts))
}

/// The one float `[N, Z]` input, or an error naming the candidates and `--noise`.
fn infer_noise(inputs: &[Input], roles: &Roles) -> Result<usize, CompileError> {
    let taken = |n: &str| {
        roles.label.as_deref() == Some(n)
            || roles.mask.as_ref().is_some_and(|(m, x)| m == n || x == n)
    };
    let floats: Vec<usize> = (0..inputs.len())
        .filter(|&i| inputs[i].is_float() && !taken(&inputs[i].name))
        .collect();
    // [N, Z] or [N, Z, 1, 1]
    let rank2: Vec<usize> = floats
        .iter()
        .copied()
        .filter(|&i| inputs[i].dims.len() >= 2 && inputs[i].dims[2..].iter().all(|&d| d == Some(1)))
        .collect();
    match (&rank2[..], &floats[..]) {
        ([z], _) => Ok(*z),
        ([], [z]) => Ok(*z), // rank checked by the caller, with the input named
        _ if floats.is_empty() => Err(contract(format!(
            "no float input to be the noise; inputs: {}",
            list(inputs, &(0..inputs.len()).collect::<Vec<_>>())
        ))),
        _ => Err(contract(format!(
            "several float inputs could be the noise: {}; say which with --noise NAME \
             (and --label NAME or --mask NAME --masked NAME for the condition)",
            list(inputs, &floats)
        ))),
    }
}

fn list(inputs: &[Input], ix: &[usize]) -> String {
    ix.iter()
        .map(|&i| inputs[i].describe())
        .collect::<Vec<_>>()
        .join(", ")
}
