//! Files on disk, one way each: [`atomic`] writes (a temporary file beside the target, then a
//! rename) and [`tensor_file`], the safetensors layer under every tensor file the crate writes
//! (parameter stores, features files, dictionaries, checkpoints); features and labels other tools
//! wrote are read in [`crate::data::arrays`]; [`read`] is the bounded read of every
//! whole file (regular files only).

pub mod atomic;
pub mod read;
pub mod tensor_file;
