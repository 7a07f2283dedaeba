//! What a strategy keeps per session, measured beside the load: a
//! session's bytes in its store, or what a token login and logout leave on
//! the server, both by `statecraft capacity --measure` (the same command and
//! count a user runs, so the figures agree); and the client's bytes.

use std::sync::PoisonError;

use crate::capacity::{ByteSize, estimate};

use crate::measure;
use crate::record::Tally;
use crate::results::Memory;
use crate::run::{Bench, store_kind};
use crate::store::SharedStore;
use crate::strategy::Strategy;

impl Bench {
    /// Server and client bytes per session.
    pub(crate) async fn memory(
        &self,
        strategy: Strategy,
        tally: &Tally,
        notes: &mut Vec<String>,
    ) -> Memory {
        let client = if tally.client_state_samples == 0 {
            0.0
        } else {
            tally.client_state_bytes as f64 / tally.client_state_samples as f64
        };
        let mut token_cost = None;
        let (server, method) = if strategy.uses_tokens() {
            let store = self.store_of(strategy);
            let method = format!(
                "statecraft capacity --measure --credential token: {} logins' refresh rows in a SQLite \
                 users database, as many logouts' denylist entries in {}",
                self.plan.token_logins,
                store_kind(&store)
            );
            let measured = measure::token_cost(&self.program, &store, self.plan.token_logins).await;
            token_cost = measured.as_ref().ok().copied();
            (measured.map(|cost| cost.login_bytes), method)
        } else {
            let store = self.capacity_store(strategy);
            let method = format!(
                "statecraft capacity --measure on {} with {} typical sessions",
                store_kind(&store),
                self.plan.capacity_sessions
            );
            (self.bytes_per_session(&store).await, method)
        };
        let server = server.unwrap_or_else(|err| {
            notes.push(format!("bytes per session: {err}"));
            0
        });
        Memory {
            server_bytes_per_session: server,
            method,
            projected_10k: estimate(10_000, ByteSize(server)).0,
            projected_1m: estimate(1_000_000, ByteSize(server)).0,
            client_bytes_per_session: client,
            token_cost,
        }
    }

    /// The store to measure: a fresh SQLite file rather than the shared one.
    fn capacity_store(&self, strategy: Strategy) -> String {
        match &self.shared {
            SharedStore::Sqlite { .. } if strategy.uses_shared_store() => {
                format!("sqlite:{}", self.work.join("capacity.sqlite").display())
            }
            _ => self.store_of(strategy),
        }
    }

    async fn bytes_per_session(&self, store: &str) -> Result<u64, String> {
        let known = self
            .bytes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(store)
            .cloned();
        if let Some(known) = known {
            return known;
        }
        let measured = measure::bytes_per_session(
            &self.program,
            store,
            self.plan.capacity_sessions,
            self.plan.cart_items,
        )
        .await;
        self.bytes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(store.to_owned(), measured.clone());
        measured
    }
}
