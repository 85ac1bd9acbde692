//! Negotiation in a task the server owns, not in the HTTP request's future.
//!
//! hyper drops a handler's future when its client hangs up. A negotiation
//! dropped half-way left a pipeline changing state on one thread while its
//! teardown began on another (C1). Here the work always runs to its end; if
//! nobody waits for the answer any more, `abandoned` gets the result to undo.

use std::future::Future;

use tokio::sync::oneshot;

use super::{Answer, RtcError};

/// The negotiation task ended without a result (it panicked, or the runtime
/// is shutting down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Abandoned;

/// Runs `work` on its own task and waits for its result. If the caller is
/// dropped first, `work` still finishes and its result goes to `abandoned`
/// (e.g. to stop a resource nobody will use).
pub async fn negotiate_owned<T, W, A, AF>(work: W, abandoned: A) -> Result<T, Abandoned>
where
    T: Send + 'static,
    W: Future<Output = T> + Send + 'static,
    A: FnOnce(T) -> AF + Send + 'static,
    AF: Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let result = work.await;
        if let Err(result) = tx.send(result) {
            abandoned(result).await;
        }
    });
    rx.await.map_err(|_| Abandoned)
}

/// [`negotiate_owned`] for a WHIP or WHEP answer: if the client hung up
/// before it, `abandoned` gets the answer (to end the resource it created);
/// a negotiation task that died is [`RtcError::Abandoned`].
pub async fn answer_owned<E, W, A, AF>(work: W, abandoned: A) -> Result<Answer, E>
where
    E: From<RtcError> + Send + 'static,
    W: Future<Output = Result<Answer, E>> + Send + 'static,
    A: FnOnce(Answer) -> AF + Send + 'static,
    AF: Future<Output = ()> + Send + 'static,
{
    negotiate_owned(work, move |result| async move {
        if let Ok(answer) = result {
            abandoned(answer).await;
        }
    })
    .await
    .map_err(|_| RtcError::Abandoned)?
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn the_caller_gets_the_result() {
        let r = negotiate_owned(async { 5 }, |_| async {}).await;
        assert_eq!(r, Ok(5));
    }

    #[tokio::test]
    async fn a_dropped_caller_hands_the_result_to_abandoned() {
        let (done_tx, done_rx) = oneshot::channel();
        let (go_tx, go_rx) = oneshot::channel::<()>();
        let call = negotiate_owned(
            async move {
                let _ = go_rx.await;
                9
            },
            move |v| async move {
                let _ = done_tx.send(v);
            },
        );
        // Poll once so the task starts, then hang up.
        let _ = tokio::time::timeout(Duration::from_millis(10), call).await;
        let _ = go_tx.send(());
        let got = tokio::time::timeout(Duration::from_secs(5), done_rx)
            .await
            .expect("abandoned ran")
            .expect("value");
        assert_eq!(got, 9);
    }

    #[tokio::test]
    async fn a_panicking_negotiation_is_an_error_not_a_hang() {
        let r: Result<u8, _> = negotiate_owned(async { panic!("boom") }, |_| async {}).await;
        assert_eq!(r, Err(Abandoned));
    }
}
