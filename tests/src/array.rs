//! A row-major array: the shape and the elements, nothing else. Every engine's inputs and
//! outputs pass through it, so shapes are checked once, where an array is made.

/// A dense C-order array. The element count always equals the product of the shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Array<T> {
    shape: Vec<usize>,
    data: Vec<T>,
}

impl<T> Array<T> {
    /// An array of `shape` holding `data`; an error when the counts disagree.
    pub fn new(shape: Vec<usize>, data: Vec<T>) -> Result<Self, String> {
        let count = shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| format!("shape {shape:?} overflows"))?;
        if count != data.len() {
            return Err(format!(
                "shape {shape:?} holds {count} elements, {} were given",
                data.len()
            ));
        }
        Ok(Self { shape, data })
    }

    /// the dimensions
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// the elements, row-major
    pub fn data(&self) -> &[T] {
        &self.data
    }

    /// number of elements
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// whether the array has no elements
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// the leading dimension (the batch for every tensor of the contract)
    pub fn batch(&self) -> Option<usize> {
        self.shape.first().copied()
    }
}
