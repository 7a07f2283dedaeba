//! Extractors whose rejections answer the API's JSON error shape.

mod client;
mod json;
mod path;
mod respond;

pub(crate) use client::{ClientAddr, TrustedProxies};
pub(crate) use json::{AppJson, BodyLimit, OptionalJson};
pub(crate) use path::AppPath;
pub(crate) use respond::JsonOk;
