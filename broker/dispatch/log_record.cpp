// The access log's record of what dispatch did to a credential (dispatch_internal.hpp).

#include "broker/dispatch/dispatch_internal.hpp"
#include "vault/access_log.hpp"
#include "vault/entry.hpp"
#include "vault/vault.hpp"

namespace pb::broker::dispatch::detail {

vault::LogRecord log_record(const std::string& op, const vault::EntryMeta& meta, const vault::AccessInfo& access) {
  vault::LogRecord rec;
  rec.op = op;
  rec.credential = meta.id;
  rec.name = meta.name;
  rec.session = access.session;
  rec.image = access.image;
  rec.fingerprint = meta.fingerprint;
  return rec;
}

}  // namespace pb::broker::dispatch::detail
