"""Unit tests of the verdict differential's ruleset rewriting (no root, no namespaces)."""
import unittest

from nfbpf_compat import replies as rp
from nfbpf_compat import verdicts as vd
from nfbpf_compat.verdicts_cli import blur


class CaseRuleset(unittest.TestCase):
    CASE = {"id": "tests-py/ip/ip.t:28:ip:test-ip4:output",
            "setup": ["add table ip test-ip4", "add chain ip test-ip4 input { type filter hook input priority 0; }",
                      "add chain ip test-ip4 output { type route hook output priority 0; }",
                      "add chain ip test-ip4 sub", "add set ip test-ip4 s { type ipv4_addr; }"],
            "command": "add rule ip test-ip4 output ip saddr @s jump sub"}

    def test_rule_moves_to_a_prerouting_probe_chain(self):
        fam, table, key, cmds, rule = vd.case_ruleset(self.CASE)
        self.assertEqual((fam, table, rule), ("ip", "test-ip4", "ip saddr @s jump sub"))
        # route chains become filter chains (route exists only at output); other base chains go.
        self.assertIn("add chain ip test-ip4 probe { type filter hook prerouting priority 0; }", cmds)
        self.assertNotIn("input", " ".join(cmds))
        self.assertIn("add chain ip test-ip4 sub", cmds)          # jump targets stay
        self.assertIn("add set ip test-ip4 s { type ipv4_addr; }", cmds)
        self.assertTrue(any("vhead ip saddr 192.0.2.222" in c and c.endswith("counter drop") for c in cmds))

    def test_same_rule_in_another_chain_shares_the_experiment(self):
        other = dict(self.CASE, id=self.CASE["id"].replace(":output", ":input"),
                     command="add rule ip test-ip4 input ip saddr @s jump sub")
        other["setup"] = [c.replace("type route", "type filter") for c in self.CASE["setup"]]
        self.assertEqual(vd.case_ruleset(self.CASE)[2], vd.case_ruleset(other)[2])

    def test_ip6_sentinel(self):
        case = {"id": "tests-py/ip6/x.t:3:ip6:t6:c", "setup": ["add table ip6 t6",
                "add chain ip6 t6 c { type filter hook input priority 0; }"], "command": "add rule ip6 t6 c accept"}
        cmds = vd.case_ruleset(case)[3]
        self.assertTrue(any(f"ip6 saddr {vd.SENTINEL6[0]}" in c for c in cmds))


class DumpForPrerouting(unittest.TestCase):
    LISTING = {"nftables": [
        {"metainfo": {"version": "1.0.6"}},
        {"table": {"family": "inet", "name": "t", "handle": 3}},
        {"table": {"family": "netdev", "name": "n", "handle": 4}},
        {"chain": {"family": "inet", "table": "t", "name": "in", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
        {"chain": {"family": "inet", "table": "t", "name": "target", "handle": 2}},
        {"chain": {"family": "inet", "table": "t", "name": "orphan", "handle": 3}},
        {"rule": {"family": "inet", "table": "t", "chain": "in", "handle": 4, "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}},
            {"limit": {"rate": 1}}, {"jump": {"target": "target"}}]}},
        {"rule": {"family": "inet", "table": "t", "chain": "orphan", "handle": 5, "expr": [{"accept": None}]}},
        {"chain": {"family": "netdev", "table": "n", "name": "ing", "handle": 1, "type": "filter", "hook": "ingress", "prio": 0}},
    ]}

    def setUp(self):
        self.rs, self.tables = vd.dump_for_prerouting(self.LISTING)
        self.adds = [a["add"] for a in self.rs["nftables"][1:]]

    def chain(self, name):
        return next(a["chain"] for a in self.adds if "chain" in a and a["chain"]["name"] == name and a["chain"]["table"] == "t")

    def test_netdev_tables_are_left_out(self):
        self.assertEqual(self.tables, [("inet", "t")])
        self.assertFalse(any(next(iter(a.values())).get("family") == "netdev" for a in self.adds))

    def test_base_chains_move_to_prerouting_with_distinct_priorities(self):
        c = self.chain("in")
        self.assertEqual((c["hook"], c["policy"]), ("prerouting", "drop"))
        orphan = self.chain("orphan")   # nothing jumps to it: probed as a base chain
        self.assertEqual(orphan["hook"], "prerouting")
        self.assertNotEqual(orphan["prio"], c["prio"])
        self.assertNotIn("hook", self.chain("target"))

    def test_counter_right_after_the_matches(self):
        r = next(a["rule"] for a in self.adds if "rule" in a and a["rule"]["chain"] == "in")
        self.assertEqual([next(iter(e)) for e in r["expr"]], ["match", "counter", "limit", "jump"])
        o = next(a["rule"] for a in self.adds if "rule" in a and a["rule"]["chain"] == "orphan")
        self.assertEqual([next(iter(e)) for e in o["expr"]], ["counter", "accept"])

    def test_order_tables_chains_then_rules_and_sentinel_table(self):
        kinds = [next(iter(a)) for a in self.adds]
        self.assertEqual(kinds[0], "table")
        self.assertLess(max(i for i, k in enumerate(kinds) if k == "chain" and i < 6), kinds.index("rule"))
        self.assertTrue(any(a.get("table", {}).get("name") == vd.SENTINEL_TABLE for a in self.adds))


class Replies(unittest.TestCase):
    """replies.compare on frames as `nfbpf verify --batch` captures them (the frames are C++'s now)."""

    @staticmethod
    def unreachable(code: int, ident: int) -> bytes:
        eth = bytes.fromhex("020000000001" "020000000002" "0800")
        ip = bytes.fromhex("45c00038") + ident.to_bytes(2, "big") + bytes.fromhex("00004001abcd" "c6336402" "c0000201")
        return eth + ip + bytes([3, code]) + b"\0" * 6 + b"quoted"

    def test_ip_id_and_checksum_do_not_count(self):
        equal, summary = rp.compare({"K": [self.unreachable(10, 1)], "N": [self.unreachable(10, 2)]})
        self.assertTrue(equal)
        self.assertEqual(summary["kinds"], {"ipv4 icmp unreachable code 10": 1})

    def test_another_icmp_code_differs(self):
        equal, summary = rp.compare({"K": [self.unreachable(10, 1)], "N": [self.unreachable(13, 1)]})
        self.assertFalse(equal)
        self.assertTrue(summary["only_kernel"][0].startswith("ipv4 icmp unreachable code 10"))



class Blur(unittest.TestCase):
    def test_context_and_numbers_go(self):
        self.assertEqual(blur("connlimit: connection counting needs conntrack (rule 7 in chain ip6 test-ip6 probe) "
                              "(while table ip6 test-ip6) [EOPNOTSUPP]"), "connlimit: connection counting needs conntrack")
        self.assertEqual(blur("register op 3: meta mark set is not possible (while table ip t"),
                         "register op #: meta mark set is not possible")


if __name__ == "__main__":
    unittest.main()
