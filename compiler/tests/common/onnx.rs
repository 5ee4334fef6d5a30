//! A minimal ONNX protobuf writer for the compiler tests: enough of `ModelProto` to build
//! small generators by hand, encoded independently of tract (tract only decodes them).

/// Protobuf wire encoding of the few field kinds ONNX needs.
#[derive(Default)]
pub struct Msg(Vec<u8>);

impl Msg {
    fn varint(&mut self, mut v: u64) {
        loop {
            let b = (v & 0x7F) as u8;
            v >>= 7;
            if v == 0 {
                self.0.push(b);
                break;
            }
            self.0.push(b | 0x80);
        }
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.varint(u64::from(field) << 3 | u64::from(wire));
    }

    pub fn int(mut self, field: u32, v: i64) -> Self {
        self.key(field, 0);
        self.varint(v as u64);
        self
    }

    pub fn float(mut self, field: u32, v: f32) -> Self {
        self.key(field, 5);
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn bytes(mut self, field: u32, v: &[u8]) -> Self {
        self.key(field, 2);
        self.varint(v.len() as u64);
        self.0.extend_from_slice(v);
        self
    }

    pub fn str(self, field: u32, v: &str) -> Self {
        self.bytes(field, v.as_bytes())
    }

    pub fn msg(self, field: u32, m: Msg) -> Self {
        self.bytes(field, &m.0)
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

/// ONNX element types.
pub const FLOAT: i64 = 1;
pub const INT64: i64 = 7;

/// A `TensorProto` initializer with f32 `raw_data`.
pub fn tensor_f32(name: &str, dims: &[i64], values: &[f32]) -> Msg {
    assert_eq!(
        dims.iter().product::<i64>() as usize,
        values.len(),
        "{name}"
    );
    let mut m = Msg::default();
    for &d in dims {
        m = m.int(1, d);
    }
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    m.int(2, FLOAT).str(8, name).bytes(9, &raw)
}

/// A `TensorProto` initializer with int64 `raw_data`.
pub fn tensor_i64(name: &str, dims: &[i64], values: &[i64]) -> Msg {
    let mut m = Msg::default();
    for &d in dims {
        m = m.int(1, d);
    }
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    m.int(2, INT64).str(8, name).bytes(9, &raw)
}

/// A `ValueInfoProto` with a symbolic batch `N` as first dim.
pub fn value_info(name: &str, elem: i64, dims: &[i64]) -> Msg {
    let mut shape = Msg::default().msg(1, Msg::default().str(2, "N"));
    for &d in dims {
        shape = shape.msg(1, Msg::default().int(1, d));
    }
    let tensor = Msg::default().int(1, elem).msg(2, shape);
    Msg::default()
        .str(1, name)
        .msg(2, Msg::default().msg(1, tensor))
}

/// An attribute.
pub enum Attr<'a> {
    Int(&'a str, i64),
    Float(&'a str, f32),
    Ints(&'a str, &'a [i64]),
    Str(&'a str, &'a str),
    Tensor(&'a str, Msg),
}

/// A `NodeProto`.
pub fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<Attr>) -> Msg {
    let mut m = Msg::default();
    for i in inputs {
        m = m.str(1, i);
    }
    for o in outputs {
        m = m.str(2, o);
    }
    m = m.str(3, name).str(4, op);
    for a in attrs {
        let attr = match a {
            Attr::Int(n, v) => Msg::default().str(1, n).int(20, 2).int(3, v),
            Attr::Float(n, v) => Msg::default().str(1, n).int(20, 1).float(2, v),
            Attr::Ints(n, v) => {
                let mut a = Msg::default().str(1, n).int(20, 7);
                for &x in v {
                    a = a.int(8, x);
                }
                a
            }
            Attr::Str(n, v) => Msg::default().str(1, n).int(20, 3).bytes(4, v.as_bytes()),
            Attr::Tensor(n, t) => Msg::default().str(1, n).int(20, 4).msg(5, t),
        };
        m = m.msg(5, attr);
    }
    m
}

/// A `Gemm` with `transB = 1`, as PyTorch exports a linear layer: `y = x·Wᵀ + b`.
pub fn gemm(name: &str, inputs: &[&str], outputs: &[&str]) -> Msg {
    node("Gemm", name, inputs, outputs, vec![Attr::Int("transB", 1)])
}

/// A `ModelProto` (opset 17) from nodes, initializers, inputs and outputs.
pub fn model(
    nodes: Vec<Msg>,
    initializers: Vec<Msg>,
    inputs: Vec<Msg>,
    outputs: Vec<Msg>,
) -> Vec<u8> {
    let mut g = Msg::default();
    for n in nodes {
        g = g.msg(1, n);
    }
    g = g.str(2, "generator");
    for t in initializers {
        g = g.msg(5, t);
    }
    for i in inputs {
        g = g.msg(11, i);
    }
    for o in outputs {
        g = g.msg(12, o);
    }
    Msg::default()
        .int(1, 8)
        .str(2, "edgegan-tests")
        .msg(7, g)
        .msg(8, Msg::default().str(1, "").int(2, 17))
        .into_bytes()
}

/// Deterministic pseudo-random weights in `[-scale, scale]`.
pub fn weights(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// z[N, 4] -> `n` × Tanh -> x: one op per node, not merged by tract.
pub fn tanh_chain(n: usize) -> Vec<u8> {
    let name = |i: usize| match i {
        0 => "z".to_string(),
        i if i == n => "x".to_string(),
        i => format!("h{i}"),
    };
    let nodes = (0..n)
        .map(|i| {
            node(
                "Tanh",
                &format!("tanh{i}"),
                &[&name(i)],
                &[&name(i + 1)],
                vec![],
            )
        })
        .collect();
    model(
        nodes,
        vec![],
        vec![value_info("z", FLOAT, &[4])],
        vec![value_info("x", FLOAT, &[4])],
    )
}
