"""What a shard does with the venue hashes of its messages: checked, held, settled, decided.

A venue hash that does not verify is held (a trade's messages all carry the hash of the state
after the last of them) until the asset's next message with another timestamp, or
`HASH_SETTLE_SECS`; a miss decided is a recipe switch, unverifiable, or a gap.
"""

from __future__ import annotations

from polymon.core.asset import AssetState
from polymon.core.gaps import GapTracker
from polymon.core.hashcheck import HashVerifier
from polymon.core.policy import Policy

HASH_SETTLE_SECS = 1.0


class HashChecks(GapTracker):
    """The venue-hash checks of one shard's books (see the module docstring)."""

    def __init__(self, policy: Policy) -> None:
        super().__init__(policy)
        self.hashes = HashVerifier(policy.hash_recipe, policy.hash_timestamp_slack_ms)
        self._pending: dict[str, float] = {}  # assets holding a missed hash -> first miss (now)

    def _self_check(
        self,
        state: AssetState,
        timestamp_ms: int,
        venue_hash: str,
        carried: bool,
        traded: list[str],
        now: float,
    ) -> bool:
        # A snapshot carries the hash of its own content: a miss means our recipe or the
        # asset's metadata is off (not a gap), so it is only counted.
        ok = self.hashes.verify_snapshot(state, venue_hash, timestamp_ms, traded, now)
        if not ok and not carried and self.hashes.recipe == "v3":
            state.trade.known = False  # the book hashed a last trade price we cannot tell
        self.counts["snapshot_hash_ok" if ok else "snapshot_hash_mismatch"] += 1
        return ok

    def _check_hash(
        self,
        state: AssetState,
        venue_hash: str,
        timestamp_ms: int,
        price_text: str,
        now: float,
        wall_us: int,
    ) -> bool:
        """Check a delta's hash; True when a miss was decided (the top of book is checked)."""
        hashes = self.hashes
        if hashes.verify(state, venue_hash, timestamp_ms, price_text, now):
            self.counts["hash_ok"] += 1
            if state.pending_hash:
                # The misses held were a trade's first messages: this state is what they hashed.
                self.counts["hash_late_ok"] += state.pending_held
                self._clear_pending(state)
            if hashes.failing:
                hashes.note_decided(state.asset_id, True)
            return False
        self.counts["hash_missed"] += 1
        if state.pending_hash and state.pending_ts != timestamp_ms:
            # Missed in two bursts in a row: the book really differs (or the recipe did).
            self._clear_pending(state)
            return self._hash_missed(state, venue_hash, timestamp_ms, wall_us)
        if not state.pending_hash:
            self._pending[state.asset_id] = now
        state.pending_hash, state.pending_ts = venue_hash, timestamp_ms
        state.pending_held += 1
        return False

    def _hash_missed(
        self, state: AssetState, venue_hash: str, timestamp_ms: int, wall_us: int
    ) -> bool:
        """A miss decided: the venue changed recipe (False), or we cannot tell, or the book is
        off (True: then the top of book is checked as for a message without a hash)."""
        hashes = self.hashes
        if hashes.recipe is not None and hashes.switch(state, venue_hash, timestamp_ms):
            self.counts["hash_recipe_switched"] += 1
            self.counts["hash_ok"] += 1
            return False
        if hashes.unverifiable(state):
            self.counts["hash_unverifiable"] += 1
        else:
            self.counts["hash_mismatch"] += 1
            if hashes.note_decided(state.asset_id, False):
                self.counts["hash_recipe_unlocked"] += 1
            self._open_gap(state, "hash_mismatch", wall_us, venue_hash)
            self._resync_if(state, self.policy.hash_mode)
        return True

    def _clear_pending(self, state: AssetState) -> None:
        if state.pending_hash:
            state.pending_hash = ""
            state.pending_held = 0
            self._pending.pop(state.asset_id, None)

    def _settle(self, now: float, wall_us: int) -> None:
        # Misses held longer than HASH_SETTLE_SECS are decided (oldest first; dict order is
        # first-miss order). O(1) per message when nothing is due.
        pending = self._pending
        while pending:
            asset_id, since = next(iter(pending.items()))
            if now - since < HASH_SETTLE_SECS:
                return
            del pending[asset_id]
            state = self.assets.get(asset_id)
            if state is not None and state.pending_hash:
                venue_hash, timestamp_ms = state.pending_hash, state.pending_ts
                state.pending_hash, state.pending_held = "", 0
                self._hash_missed(state, venue_hash, timestamp_ms, wall_us)
