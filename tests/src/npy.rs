//! The golden files' `.npy` arrays as [`Array`]s, through the workspace's one NPY codec,
//! [`edgegan_compiler::npy`] (the format and its checks are documented there).

use std::path::Path;

use edgegan_compiler::npy::{self as codec, Npy};
pub use edgegan_compiler::npy::{Element, NpyError};

use crate::array::Array;

fn array<T>(Npy { shape, data }: Npy<T>) -> Result<Array<T>, NpyError> {
    Array::new(shape, data).map_err(NpyError::Format)
}

/// Decodes a `.npy` file holding `T` elements in C order.
pub fn from_bytes<T: Element>(bytes: &[u8]) -> Result<Array<T>, NpyError> {
    array(codec::from_bytes(bytes)?)
}

/// Reads a `.npy` file (see [`from_bytes`]).
pub fn read<T: Element>(path: &Path) -> Result<Array<T>, NpyError> {
    array(codec::read(path)?)
}

/// Writes `array` to `path` as a version 1.0 `.npy` file, as NumPy writes it.
pub fn write<T: Element>(path: &Path, array: &Array<T>) -> Result<(), NpyError> {
    codec::write(path, array.shape(), array.data())
}
