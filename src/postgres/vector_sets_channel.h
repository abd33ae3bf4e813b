// The LISTEN/NOTIFY channel on which a switch of the active vector set is announced: the backend
// notifies in the switching transaction (delivered on commit), watch_active_model listens.
#pragma once

namespace memembed::postgres {

inline constexpr const char* kVectorSetsChannel = "memembed_vector_sets";

}  // namespace memembed::postgres
