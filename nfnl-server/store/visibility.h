#pragma once
// Generation visibility, the kernel's genmask reduced to what a single-writer server needs: an
// object is visible to readers of the committed ruleset ("cur") and/or to the transaction being
// built ("next"). New objects start {cur=false,next=true}; deleting clears next; commit makes
// cur=next and frees objects visible in neither; abort frees new objects and restores next=cur.

namespace nfbpf::store {

struct Visibility {
  bool cur = false;
  bool next = true;

  bool active_next() const { return next; }
  bool active_cur() const { return cur; }
};

}  // namespace nfbpf::store
