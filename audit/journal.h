// The systemd journal as a second place for audit events (mount option audit_journal=1).
#pragma once

#include "audit/event.h"

namespace secretfs::audit {

// Sends one committed event to the journal as structured fields: SECRETFS_SEQ, SECRETFS_OP,
// SECRETFS_RESULT ("ok" or the errno's name), SECRETFS_WORKSPACE, SECRETFS_KEY, SECRETFS_VERSION,
// SECRETFS_UID, SECRETFS_GID, SECRETFS_PID, SECRETFS_COMM, SECRETFS_EXE, SECRETFS_UNIT,
// SECRETFS_ORIGIN, SECRETFS_DETAIL, and a one-line MESSAGE, so `journalctl SECRETFS_OP=read`
// finds them. Events hold no secret values. Best effort: the LMDB log is the record; without a
// journal (no systemd) nothing happens.
void SendToJournal(const Event& event);

}  // namespace secretfs::audit
