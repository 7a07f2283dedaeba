//! What the gateway does with a faulted instance: how long until it takes
//! it out of rotation, and how long after the heal until it is back.

use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::cluster::ClusterApi;
use crate::results::FaultOutcome;

/// How long after a heal the watch waits for the instance to come back.
const RECOVERY_WATCH: Duration = Duration::from_secs(10);

/// Watches instance `id` from `at`: how long until the gateway took it
/// out of rotation (if it did before `heal`), and how long after `heal`
/// until it was back.
pub(super) fn watch(
    api: &ClusterApi,
    id: &str,
    at: Instant,
    heal: Instant,
) -> JoinHandle<Rotation> {
    let (api, id) = (api.clone(), id.to_owned());
    tokio::spawn(async move {
        let mut rotation = Rotation::default();
        while Instant::now() < heal {
            if rotation.out.is_none() && api.in_rotation(&id).await == Some(false) {
                rotation.out = Some(at.elapsed().as_secs_f64());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep_until(heal.into()).await;
        if rotation.out.is_some() {
            while heal.elapsed() < RECOVERY_WATCH {
                if api.in_rotation(&id).await == Some(true) {
                    rotation.back = Some(heal.elapsed().as_secs_f64());
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        rotation
    })
}

/// What the gateway did with a faulted instance.
#[derive(Debug, Default)]
pub(super) struct Rotation {
    /// Seconds from the fault until it was out of rotation.
    out: Option<f64>,
    /// Seconds from the heal until it was back.
    back: Option<f64>,
}

/// A fault's outcome, with the watch of its instance still running.
pub(super) struct Watched {
    outcome: FaultOutcome,
    watch: Option<JoinHandle<Rotation>>,
}

impl Watched {
    pub(super) fn done(outcome: FaultOutcome) -> Self {
        Self {
            outcome,
            watch: None,
        }
    }

    pub(super) fn watching(outcome: FaultOutcome, watch: JoinHandle<Rotation>) -> Self {
        Self {
            outcome,
            watch: Some(watch),
        }
    }

    pub(super) async fn finish(self) -> FaultOutcome {
        let mut outcome = self.outcome;
        if let Some(watch) = self.watch
            && let Ok(rotation) = watch.await
        {
            outcome.detected_seconds = rotation.out;
            outcome.recovered_seconds = rotation.back;
        }
        outcome
    }
}
