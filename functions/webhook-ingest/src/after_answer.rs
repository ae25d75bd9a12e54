//! A runtime layer that runs work after each answer is with the Runtime API and before the
//! runtime asks for the next event: the caller (API Gateway, so Sinch) has its answer, and the
//! environment is not frozen yet. AWS Lambda Developer Guide, "Understanding the Lambda
//! execution environment lifecycle" (docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html):
//! the runtime "indicate[s] completion by sending a Next API request", and Lambda "freezes the
//! execution environment when the runtime and each extension have completed"; the Invoke phase,
//! and with it the function's timeout and billed duration, lasts until that request.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use lambda_http::lambda_runtime::tower::{Layer, Service};
use lambda_http::lambda_runtime::{Error, LambdaInvocation};

/// Wraps the runtime's service that posts the answer with `after`.
#[derive(Clone)]
pub struct AfterAnswer<F>(pub F);

impl<S, F: Clone> Layer<S> for AfterAnswer<F> {
    type Service = AfterAnswerService<S, F>;

    fn layer(&self, inner: S) -> Self::Service {
        AfterAnswerService {
            inner,
            after: self.0.clone(),
        }
    }
}

pub struct AfterAnswerService<S, F> {
    inner: S,
    after: F,
}

impl<S, F, Fut> Service<LambdaInvocation> for AfterAnswerService<S, F>
where
    S: Service<LambdaInvocation, Response = (), Error = Error>,
    F: Fn() -> Fut + Clone + Unpin,
    Fut: Future<Output = ()>,
{
    type Response = ();
    type Error = Error;
    type Future = AfterAnswerFuture<S::Future, F, Fut>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        AfterAnswerFuture {
            answering: Some(Box::pin(self.inner.call(invocation))),
            after: self.after.clone(),
            following: None,
            answered: None,
        }
    }
}

/// Posts the answer, then runs the follow-ups, then ends with the answer's result: even when
/// posting failed, since the event is stored either way and its confirmation must not wait for
/// the environment's next event.
pub struct AfterAnswerFuture<A, F, Fut> {
    answering: Option<Pin<Box<A>>>,
    after: F,
    following: Option<Pin<Box<Fut>>>,
    answered: Option<Result<(), Error>>,
}

impl<A, F, Fut> Future for AfterAnswerFuture<A, F, Fut>
where
    A: Future<Output = Result<(), Error>>,
    F: Fn() -> Fut + Unpin,
    Fut: Future<Output = ()>,
{
    type Output = Result<(), Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(answering) = this.answering.as_mut() {
            let answered = std::task::ready!(answering.as_mut().poll(cx));
            this.answering = None;
            this.answered = Some(answered);
            this.following = Some(Box::pin((this.after)()));
        }
        if let Some(following) = this.following.as_mut() {
            std::task::ready!(following.as_mut().poll(cx));
            this.following = None;
        }
        Poll::Ready(this.answered.take().unwrap_or(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use lambda_http::lambda_runtime::tower::service_fn;

    use super::*;

    fn invocation() -> LambdaInvocation {
        LambdaInvocation {
            parts: http::Response::new(()).into_parts().0,
            body: bytes::Bytes::new(),
            context: Default::default(),
        }
    }

    /// The runtime's stack under the layer: "posts" the answer, or fails to.
    fn answering(
        log: &Rc<RefCell<Vec<&'static str>>>,
        posted: bool,
    ) -> AfterAnswerService<
        impl Service<LambdaInvocation, Response = (), Error = Error>,
        impl Fn() -> std::future::Ready<()> + Clone,
    > {
        let (inner_log, after_log) = (log.clone(), log.clone());
        let inner = service_fn(move |_: LambdaInvocation| {
            inner_log.borrow_mut().push("answer posted");
            std::future::ready(if posted {
                Ok(())
            } else {
                Err(Error::from("runtime api down"))
            })
        });
        AfterAnswer(move || {
            after_log.borrow_mut().push("follow-ups");
            std::future::ready(())
        })
        .layer(inner)
    }

    #[tokio::test]
    async fn runs_the_follow_ups_after_the_answer_is_posted_and_before_the_invocation_ends() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut service = answering(&log, true);
        assert!(service.call(invocation()).await.is_ok());
        assert_eq!(*log.borrow(), ["answer posted", "follow-ups"]);
    }

    #[tokio::test]
    async fn runs_the_follow_ups_even_when_posting_the_answer_failed_and_returns_that_error() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut service = answering(&log, false);
        assert!(service.call(invocation()).await.is_err());
        assert_eq!(*log.borrow(), ["answer posted", "follow-ups"]);
    }
}
