//! What a session holds, and the atomic changes a request may make to it.
//!
//! A [`Mutation`] is data, not a closure, so that every backend can apply it where
//! the state lives (under a shard lock in memory, in a transaction in SQLite, in a
//! script in Redis) and no caller ever writes back a stale copy.

use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::name::ProductId;

/// Most distinct products a cart holds.
pub const MAX_CART_LINES: usize = 100;
/// Most units of one product a cart holds.
pub const MAX_QUANTITY: u16 = 999;
/// Largest counter value: 2^53 - 1, the largest integer every JSON client reads exactly.
pub const MAX_COUNTER: u64 = (1 << 53) - 1;

/// Where the user is in the checkout workflow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CheckoutStep {
    /// No checkout in progress.
    #[default]
    Browsing,
    /// The cart was snapshotted for review.
    Checkout,
    /// The shipping address was given.
    Shipping,
    /// The payment token was given.
    Payment,
    /// The order was placed.
    Confirmed,
}

impl CheckoutStep {
    /// The step's name as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Browsing => "browsing",
            Self::Checkout => "checkout",
            Self::Shipping => "shipping",
            Self::Payment => "payment",
            Self::Confirmed => "confirmed",
        }
    }
}

/// Longest field of a shipping address, in characters.
pub const MAX_ADDRESS_FIELD: usize = 200;
/// Longest payment token.
pub const MAX_PAYMENT_TOKEN: usize = 128;

/// A shipping address, as checkout collects it (fields checked by the API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    /// The recipient.
    pub name: String,
    /// Street and number.
    pub line1: String,
    /// City.
    pub city: String,
    /// Postal code.
    pub postal_code: String,
    /// Country.
    pub country: String,
}

/// One line of a cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CartLine {
    /// The product.
    pub product_id: ProductId,
    /// Units of it, 1 to [`MAX_QUANTITY`].
    pub quantity: u16,
}

/// The typed state of one session (Redis keeps its own compact JSON form of it,
/// `crates/state/src/redis/sessions.rs`).
///
/// No field may be skipped when serializing: compact binary encodings rely on
/// every field being present, in this order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionData {
    /// The per-session counter of `POST /increment`.
    pub counter: u64,
    /// The cart, in the order products were first added.
    pub cart_items: Vec<CartLine>,
    /// Progress through checkout.
    pub current_step: CheckoutStep,
    /// The logged-in user, if any.
    pub user_id: Option<String>,
    /// Checkout's shipping address, once given.
    pub shipping: Option<Address>,
    /// Checkout's payment token (`tok_…`), once given; never a card number.
    pub payment_token: Option<String>,
}

impl SessionData {
    /// The user a login session is for: a store refuses to file a login
    /// session without one.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] when the session names no user.
    pub fn login_user(&self) -> Result<&str, StoreError> {
        self.user_id
            .as_deref()
            .ok_or_else(|| StoreError::Corrupt("a login session needs a user".to_owned()))
    }

    /// Total units in the cart.
    pub fn total_items(&self) -> u64 {
        self.cart_items.iter().map(|l| u64::from(l.quantity)).sum()
    }

    fn line_mut(&mut self, product: &ProductId) -> Option<&mut CartLine> {
        self.cart_items
            .iter_mut()
            .find(|l| &l.product_id == product)
    }
}

/// A change that a business rule refused; the session is left as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleViolation {
    /// The cart already holds [`MAX_CART_LINES`] distinct products.
    #[error("A cart holds at most {MAX_CART_LINES} distinct products")]
    CartFull,
    /// The product's quantity would exceed [`MAX_QUANTITY`].
    #[error("A cart holds at most {MAX_QUANTITY} of one product")]
    QuantityLimit,
    /// The product is not in the cart.
    #[error("Product {0} is not in the cart")]
    NotInCart(ProductId),
    /// The counter would exceed [`MAX_COUNTER`].
    #[error("The counter cannot go above 2^53-1")]
    CounterLimit,
    /// Checkout needs a cart with something in it.
    #[error("The cart is empty")]
    CartEmpty,
    /// A checkout step came out of order; `expected` must come first.
    #[error("Checkout step out of order: {} comes first", expected.as_str())]
    StepInvalid {
        /// The step that must be done before this one.
        expected: CheckoutStep,
    },
}

/// An atomic change to one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mutation {
    /// Adds one to the counter.
    IncrementCounter,
    /// Adds units of a product (a product already in the cart grows).
    AddToCart {
        /// The product.
        product: ProductId,
        /// Units to add, 1 to [`MAX_QUANTITY`].
        quantity: u16,
    },
    /// Sets a product's quantity; 0 removes the line.
    SetCartQuantity {
        /// The product.
        product: ProductId,
        /// The new quantity, 0 to [`MAX_QUANTITY`].
        quantity: u16,
    },
    /// Removes a product from the cart.
    RemoveFromCart {
        /// The product.
        product: ProductId,
    },
    /// Empties the cart.
    ClearCart,
    /// Starts (or restarts) checkout on a non-empty cart.
    StartCheckout,
    /// Gives the shipping address (after checkout started).
    SetShipping(Address),
    /// Gives the payment token (after the shipping address).
    SetPayment(String),
    /// The order was placed: the cart and the checkout details go, the step is
    /// `confirmed` (only from the payment step).
    CompleteCheckout,
}

impl Mutation {
    /// Whether the change may be made to `data`, which stays as it is: the
    /// same rule as [`Mutation::apply`] (a caller that must act before the
    /// change is stored, as confirm places the order first, asks this).
    ///
    /// # Errors
    /// The [`RuleViolation`] that would refuse the change.
    pub fn check(&self, data: &SessionData) -> Result<(), RuleViolation> {
        self.apply(&mut data.clone())
    }

    /// Applies the change to `data`; on a violation `data` is left unchanged.
    ///
    /// # Errors
    /// The [`RuleViolation`] that refused the change.
    pub fn apply(&self, data: &mut SessionData) -> Result<(), RuleViolation> {
        match self {
            Self::IncrementCounter => {
                if data.counter >= MAX_COUNTER {
                    return Err(RuleViolation::CounterLimit);
                }
                data.counter += 1;
            }
            Self::AddToCart { product, quantity } => {
                let lines = data.cart_items.len();
                match data.line_mut(product) {
                    Some(line) => {
                        let total = line.quantity.saturating_add(*quantity);
                        if total > MAX_QUANTITY {
                            return Err(RuleViolation::QuantityLimit);
                        }
                        line.quantity = total;
                    }
                    None => {
                        if *quantity > MAX_QUANTITY {
                            return Err(RuleViolation::QuantityLimit);
                        }
                        if lines >= MAX_CART_LINES {
                            return Err(RuleViolation::CartFull);
                        }
                        data.cart_items.push(CartLine {
                            product_id: product.clone(),
                            quantity: *quantity,
                        });
                    }
                }
            }
            Self::SetCartQuantity { product, quantity } => {
                if *quantity > MAX_QUANTITY {
                    return Err(RuleViolation::QuantityLimit);
                }
                if *quantity == 0 {
                    data.cart_items.retain(|l| &l.product_id != product);
                } else if let Some(line) = data.line_mut(product) {
                    line.quantity = *quantity;
                } else if data.cart_items.len() >= MAX_CART_LINES {
                    return Err(RuleViolation::CartFull);
                } else {
                    data.cart_items.push(CartLine {
                        product_id: product.clone(),
                        quantity: *quantity,
                    });
                }
            }
            Self::RemoveFromCart { product } => {
                let before = data.cart_items.len();
                data.cart_items.retain(|l| &l.product_id != product);
                if data.cart_items.len() == before {
                    return Err(RuleViolation::NotInCart(product.clone()));
                }
            }
            Self::ClearCart => data.cart_items.clear(),
            Self::StartCheckout => {
                if data.cart_items.is_empty() {
                    return Err(RuleViolation::CartEmpty);
                }
                data.current_step = CheckoutStep::Checkout;
                data.shipping = None;
                data.payment_token = None;
            }
            Self::SetShipping(address) => {
                use CheckoutStep::{Checkout, Payment, Shipping};
                if !matches!(data.current_step, Checkout | Shipping | Payment) {
                    return Err(RuleViolation::StepInvalid { expected: Checkout });
                }
                data.shipping = Some(address.clone());
                data.payment_token = None;
                data.current_step = Shipping;
            }
            Self::SetPayment(token) => {
                use CheckoutStep::{Payment, Shipping};
                if !matches!(data.current_step, Shipping | Payment) {
                    return Err(RuleViolation::StepInvalid { expected: Shipping });
                }
                data.payment_token = Some(token.clone());
                data.current_step = Payment;
            }
            Self::CompleteCheckout => {
                if data.current_step != CheckoutStep::Payment {
                    return Err(RuleViolation::StepInvalid {
                        expected: CheckoutStep::Payment,
                    });
                }
                if data.cart_items.is_empty() {
                    return Err(RuleViolation::CartEmpty);
                }
                data.cart_items.clear();
                data.shipping = None;
                data.payment_token = None;
                data.current_step = CheckoutStep::Confirmed;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(s: &str) -> ProductId {
        ProductId::parse(s).unwrap()
    }

    fn add(p: &str, q: u16) -> Mutation {
        Mutation::AddToCart {
            product: pid(p),
            quantity: q,
        }
    }

    #[test]
    fn adding_a_product_twice_grows_its_line() {
        let mut d = SessionData::default();
        add("book-1", 2).apply(&mut d).unwrap();
        add("pen-7", 1).apply(&mut d).unwrap();
        add("book-1", 3).apply(&mut d).unwrap();
        assert_eq!(d.cart_items.len(), 2);
        assert_eq!(d.cart_items[0].quantity, 5);
        assert_eq!(d.total_items(), 6);
    }

    #[test]
    fn quantity_over_999_is_refused_and_changes_nothing() {
        let mut d = SessionData::default();
        assert_eq!(add("a", 999).apply(&mut d), Ok(()));
        let before = d.clone();
        assert_eq!(add("a", 1).apply(&mut d), Err(RuleViolation::QuantityLimit));
        assert_eq!(d, before);
    }

    #[test]
    fn the_101st_distinct_product_is_refused() {
        let mut d = SessionData::default();
        for i in 0..MAX_CART_LINES {
            assert_eq!(add(&format!("p{i}"), 1).apply(&mut d), Ok(()));
        }
        assert_eq!(
            add("one-more", 1).apply(&mut d),
            Err(RuleViolation::CartFull)
        );
        // growing an existing line is still allowed
        assert_eq!(add("p0", 1).apply(&mut d), Ok(()));
    }

    #[test]
    fn set_quantity_zero_removes_and_remove_of_absent_is_an_error() {
        let mut d = SessionData::default();
        add("a", 2).apply(&mut d).unwrap();
        let set = |q| Mutation::SetCartQuantity {
            product: pid("a"),
            quantity: q,
        };
        assert_eq!(set(7).apply(&mut d), Ok(()));
        assert_eq!(d.total_items(), 7);
        assert_eq!(set(0).apply(&mut d), Ok(()));
        assert!(d.cart_items.is_empty());
        assert_eq!(
            Mutation::RemoveFromCart { product: pid("a") }.apply(&mut d),
            Err(RuleViolation::NotInCart(pid("a")))
        );
    }

    #[test]
    fn counter_stops_at_2_pow_53_minus_1() {
        let mut d = SessionData {
            counter: MAX_COUNTER - 1,
            ..SessionData::default()
        };
        assert_eq!(Mutation::IncrementCounter.apply(&mut d), Ok(()));
        assert_eq!(
            Mutation::IncrementCounter.apply(&mut d),
            Err(RuleViolation::CounterLimit)
        );
        assert_eq!(d.counter, MAX_COUNTER);
    }
}
