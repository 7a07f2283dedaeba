//! Extractors whose rejections answer the API's JSON error shape.

mod json;
mod path;

pub(crate) use json::{AppJson, OptionalJson};
pub(crate) use path::AppPath;
