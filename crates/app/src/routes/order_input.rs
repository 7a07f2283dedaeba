//! What a client sends to place an order — lines, a shipping address, a
//! payment token, an `Idempotency-Key` — checked once here for every route
//! that takes them (`POST /orders`, the checkout steps, confirm).

use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use statecraft_services::OrderLine;
use statecraft_state::{Address, MAX_ADDRESS_FIELD, MAX_PAYMENT_TOKEN};
use utoipa::ToSchema;

use crate::error::ApiError;

/// Longest `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY: usize = 128;

/// A field of an address in `/openapi.json`: exactly what
/// `ShippingBody::validate` takes — 1-200 characters, none a control
/// character, not all whitespace; but for the 200-character limit, which a
/// newtype's schema cannot carry in utoipa. (A stricter schema, ASCII only, let
/// schemathesis find values the schema forbids and the server accepted.)
#[derive(Debug, ToSchema)]
#[schema(
    pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
)]
#[allow(dead_code)]
pub(crate) struct AddressField(String);

/// A shipping address in a request: each field 1-200 printable characters,
/// not all blank.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ShippingBody {
    #[schema(value_type = AddressField)]
    name: String,
    #[schema(value_type = AddressField)]
    line1: String,
    #[schema(value_type = AddressField)]
    city: String,
    #[schema(value_type = AddressField)]
    postal_code: String,
    #[schema(value_type = AddressField)]
    country: String,
}

impl ShippingBody {
    pub(crate) fn validate(self) -> Result<Address, ApiError> {
        for (field, value) in [
            ("name", &self.name),
            ("line1", &self.line1),
            ("city", &self.city),
            ("postalCode", &self.postal_code),
            ("country", &self.country),
        ] {
            if value.trim().is_empty()
                || value.chars().count() > MAX_ADDRESS_FIELD
                || value.chars().any(char::is_control)
            {
                return Err(ApiError::invalid(
                    field,
                    format!("{field} must be 1-{MAX_ADDRESS_FIELD} printable characters"),
                ));
            }
        }
        Ok(Address {
            name: self.name,
            line1: self.line1,
            city: self.city,
            postal_code: self.postal_code,
            country: self.country,
        })
    }
}

/// Checks a payment token's form (`tok_` and letters, digits, `_`).
pub(crate) fn valid_token(token: &str) -> Result<(), ApiError> {
    let ok = token.starts_with("tok_")
        && token.len() <= MAX_PAYMENT_TOKEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "paymentToken",
            "paymentToken must be a token like tok_123 (letters, digits, '_')",
        ))
    }
}

/// Checks the lines of an order a client sent (the stateless confirm,
/// `POST /orders`): at least one, each a valid product ID and 1-999 units.
pub(crate) fn valid_lines(items: &[OrderLine]) -> Result<(), ApiError> {
    if items.is_empty() {
        return Err(ApiError::invalid(
            "items",
            "items must hold at least one line",
        ));
    }
    for line in items {
        if statecraft_state::ProductId::parse(&line.product_id).is_err() {
            return Err(ApiError::invalid(
                "productId",
                "productId must be 1-64 of A-Z a-z 0-9 _ -",
            ));
        }
        if !(1..=u32::from(statecraft_state::MAX_QUANTITY)).contains(&line.quantity) {
            return Err(ApiError::invalid("quantity", "quantity must be 1-999"));
        }
    }
    Ok(())
}

/// The `Idempotency-Key` header, if any.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default();
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ApiError::invalid(
            "Idempotency-Key",
            format!("Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
        ));
    }
    Ok(Some(key.to_owned()))
}
