//! Leases in the `leases` table: one row per release that ever had one,
//! whose fence only grows; `owner` is NULL once the lease is given up.
//! Times are nanoseconds since the epoch (see `codec`).

use std::time::Duration;

use chatdeploy_core::ids::DeploymentId;
use chatdeploy_core::state::Lease;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::codec::{nanos, to_i64};
use crate::error::OpError;

/// `now + ttl`, saturating.
fn expiry(now: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(ttl)
        .ok()
        .and_then(|ttl| now.checked_add_signed(ttl))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The stored (owner, fence, expiry) of a release's lease row.
fn stored(
    tx: &Connection,
    deployment: &DeploymentId,
) -> Result<Option<(Option<String>, i64, i64)>, OpError> {
    Ok(tx
        .prepare_cached("SELECT owner, fence, expires_at FROM leases WHERE deployment = ?1")?
        .query_row([deployment.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?)
}

fn lease(deployment: &DeploymentId, owner: &str, fence: i64, expires_at: DateTime<Utc>) -> Lease {
    Lease {
        deployment: deployment.clone(),
        owner: owner.to_owned(),
        fence: u64::try_from(fence).unwrap_or_default(),
        expires_at,
    }
}

pub(crate) fn claim(
    tx: &Transaction<'_>,
    deployment: &DeploymentId,
    owner: &str,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<Option<Lease>, OpError> {
    let expires_at = expiry(now, ttl);
    let (now_n, until) = (nanos(now), nanos(expires_at));
    let fence = match stored(tx, deployment)? {
        Some((Some(holder), _, expires)) if expires > now_n && holder != owner => return Ok(None),
        Some((Some(_), fence, expires)) if expires > now_n => fence,
        Some((_, fence, _)) => fence.saturating_add(1),
        None => 1,
    };
    tx.prepare_cached(
        "INSERT INTO leases (deployment, owner, fence, expires_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (deployment) DO UPDATE SET owner = ?2, fence = ?3, expires_at = ?4",
    )?
    .execute(params![deployment.as_str(), owner, fence, until])?;
    Ok(Some(lease(deployment, owner, fence, expires_at)))
}

/// Whether `lease` is the release's current lease at `now`.
pub(crate) fn is_current(
    tx: &Connection,
    held: &Lease,
    now: DateTime<Utc>,
) -> Result<bool, OpError> {
    let fence = to_i64(held.fence)?;
    Ok(matches!(
        stored(tx, &held.deployment)?,
        Some((Some(owner), f, expires)) if owner == held.owner && f == fence && expires > nanos(now)
    ))
}

pub(crate) fn renew(
    tx: &Transaction<'_>,
    held: &Lease,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<Option<Lease>, OpError> {
    if !is_current(tx, held, now)? {
        return Ok(None);
    }
    let expires_at = expiry(now, ttl);
    tx.prepare_cached("UPDATE leases SET expires_at = ?2 WHERE deployment = ?1")?
        .execute(params![held.deployment.as_str(), nanos(expires_at)])?;
    Ok(Some(Lease {
        expires_at,
        ..held.clone()
    }))
}

pub(crate) fn release(tx: &Transaction<'_>, held: &Lease) -> Result<(), OpError> {
    tx.prepare_cached(
        "UPDATE leases SET owner = NULL WHERE deployment = ?1 AND owner = ?2 AND fence = ?3",
    )?
    .execute(params![
        held.deployment.as_str(),
        held.owner,
        to_i64(held.fence)?
    ])?;
    Ok(())
}

pub(crate) fn claimable(
    conn: &Connection,
    owner: &str,
    now: DateTime<Utc>,
) -> Result<Vec<DeploymentId>, OpError> {
    let mut statement = conn.prepare_cached(
        "SELECT d.id FROM deployments d LEFT JOIN leases l ON l.deployment = d.id \
         WHERE d.finalized = 0 AND (l.owner IS NULL OR l.expires_at <= ?1 OR l.owner = ?2) \
         ORDER BY d.requested_at, d.id",
    )?;
    let ids = statement
        .query_map(params![nanos(now), owner], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ids.into_iter().map(DeploymentId::new).collect())
}
