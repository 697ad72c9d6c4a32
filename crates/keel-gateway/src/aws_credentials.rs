//! Temporary AWS credentials for Bedrock providers that get theirs from the
//! container credentials endpoint or the EC2 instance metadata service
//! (`keel_providers::bedrock::remote`): fetched before Keel serves (a
//! provider that cannot get any stops start-up, like a bad config), then
//! fetched again five minutes before they expire, off the request path.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use keel_providers::bedrock::remote::{
    imds_role, parse_credentials, refresh_after, Fetched, RemoteSource,
};
use keel_providers::bedrock::BedrockProvider;
use keel_providers::{Executor, UpstreamRequest};
use tokio_util::sync::CancellationToken;

/// How long one credentials request may take (the SDKs allow about 1 s for
/// the metadata service; a loaded container agent gets more).
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// How soon a failed refresh is tried again (the old credentials usually
/// still have minutes to run).
const RETRY_EVERY: Duration = Duration::from_secs(30);

/// Fetches credentials for every provider that needs them and installs
/// them. Fails, naming the provider and the source, when one cannot.
pub async fn fetch_all(
    executor: &Executor,
    providers: &[Arc<BedrockProvider>],
) -> Result<Vec<Fetched>, String> {
    let mut fetched = Vec::with_capacity(providers.len());
    for provider in providers {
        let Some(source) = provider.remote_source() else {
            continue;
        };
        let credentials = fetch(executor, source).await.map_err(|e| {
            format!(
                "provider '{}': no static AWS credentials, and {} gave none: {e}",
                keel_providers::Provider::name(provider.as_ref()),
                source.describe()
            )
        })?;
        provider.set_credentials(&credentials.credentials);
        fetched.push(credentials);
    }
    Ok(fetched)
}

/// Keeps `provider`'s credentials fresh until `shutdown`; `first` are the
/// ones [`fetch_all`] installed.
pub async fn keep_fresh(
    executor: Executor,
    provider: Arc<BedrockProvider>,
    first: Fetched,
    shutdown: CancellationToken,
) {
    let Some(source) = provider.remote_source().cloned() else {
        return;
    };
    let mut wait = refresh_after(&first, SystemTime::now());
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        match fetch(&executor, &source).await {
            Ok(fetched) => {
                provider.set_credentials(&fetched.credentials);
                wait = refresh_after(&fetched, SystemTime::now());
                tracing::info!(source = %source.describe(), next_in_s = wait.as_secs(), "refreshed AWS credentials");
            }
            Err(e) => {
                tracing::warn!(source = %source.describe(), error = %e, "could not refresh AWS credentials; trying again soon");
                wait = RETRY_EVERY;
            }
        }
    }
}

/// One fetch from `source`.
pub async fn fetch(executor: &Executor, source: &RemoteSource) -> Result<Fetched, String> {
    match source {
        RemoteSource::Container { .. } => {
            parse_credentials(&body_of(executor, source.container_request()?).await?)
        }
        RemoteSource::InstanceMetadata { .. } => {
            let token = body_of(executor, source.imds_token_request()?).await?;
            let token = String::from_utf8_lossy(&token).into_owned();
            let roles = body_of(executor, source.imds_request(&token, None)?).await?;
            let role = imds_role(&roles)?;
            parse_credentials(&body_of(executor, source.imds_request(&token, Some(&role))?).await?)
        }
    }
}

/// The body of a successful answer to `request`.
async fn body_of(executor: &Executor, request: UpstreamRequest) -> Result<Bytes, String> {
    let url = request.url.clone();
    let response = executor
        .send(request, FETCH_TIMEOUT)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    let body = executor
        .read_body(response, tokio::time::Instant::now() + FETCH_TIMEOUT)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if !status.is_success() {
        return Err(format!("{url} answered HTTP {status}"));
    }
    Ok(body)
}
