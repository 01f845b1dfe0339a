"""The names the store gives PostgreSQL-wide things, in one place: the LISTEN/NOTIFY channel and
the advisory lock keys (one bigint each, in a range of their own: 0x5357_42xx, "SWB")."""

from __future__ import annotations

from typing import Final

# Every `store.tx` commit that wrote something notifies it (payload-free; PostgreSQL folds the
# notifications of one transaction into one); `store.notify.wait_for_change` listens.
CHANGES_CHANNEL: Final = "switchboard_changes"

# Held (transaction-level) by the migration runners while they re-read the version and apply
# what is pending: processes starting at once on an empty database apply each migration once.
MIGRATION_LOCK: Final = 0x5357_4201
# Held (transaction-level) by every insert into `messages`, from before the row takes its seq
# until the transaction ends: message commits are serialised, so seq order is commit order
# and a reader following the seq cursor never passes a seq that has yet to commit.
MESSAGES_LOCK: Final = 0x5357_4202
