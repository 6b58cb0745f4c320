"""Unit tests for the .t parser and the pure helpers, on real nftables 1.0.6 test files."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from nfbpf_compat import cases, listing, normalize, tfile  # noqa: E402

ROOT = os.path.join(os.environ.get("NFBPF_SUITE_ROOT", cases.SUITE_ROOT), "tests-py")
FAMILIES = cases.TESTS_PY_FAMILIES


class SetsFile(unittest.TestCase):
    """ip/sets.t: sets and elements declared above a rule become that rule's setup."""

    @classmethod
    def setUpClass(cls):
        cls.parsed = tfile.parse_file(ROOT, "ip/sets.t", FAMILIES)

    def cases_at(self, lineno):
        return [c for c in self.parsed.cases if c.lineno == lineno]

    def test_rule_runs_in_each_ip_family_table_only(self):
        got = [(c.family, c.table, c.chain) for c in self.cases_at(32)]
        self.assertEqual(got, [("ip", "test-ip4", "input"), ("inet", "test-inet", "input")])

    def test_setup_holds_ok_sets_and_elements_in_file_order(self):
        case = self.cases_at(32)[0]
        self.assertEqual(case.rule, "ip saddr @set1 drop")
        self.assertEqual(case.expect, "ok")
        self.assertEqual(case.add_command, "add rule ip test-ip4 input ip saddr @set1 drop")
        self.assertEqual(case.setup[:3], (
            "add table ip test-ip4",
            "add chain ip test-ip4 input { type filter hook input priority 0; }",
            "add set ip test-ip4 w { type ipv4_addr; }"))
        # elements are split on "," and re-joined with ", " (as nft-test.py does): two spaces
        self.assertIn("add element ip test-ip4 set1 { 192.168.3.5,  192.168.3.6 }", case.setup)
        # `fail` element lines are not part of the setup; set2's `ok` elements are.
        self.assertFalse(any("1234:1234" in c for c in case.setup))
        self.assertIn("add element ip test-ip4 set2 { 192.168.3.4 }", case.setup)
        self.assertEqual(sum(c.startswith("add element ip test-ip4 set2 ") for c in case.setup), 5)
        # set3 is declared below line 32, so it is not there yet ...
        self.assertFalse(any(" set3 " in c for c in case.setup))
        # ... but it is for a later rule.
        later = self.cases_at(52)[0]
        self.assertIn("add set ip test-ip4 set3 { type ipv4_addr; flags interval; }", later.setup)
        self.assertIn("add set ip test-ip4 set5 { type ipv4_addr . ipv4_addr; }", later.setup)

    def test_fail_lines_and_expected_output(self):
        fail = self.cases_at(36)[0]
        self.assertEqual((fail.rule, fail.expect), ("ip saddr @set33 drop", "fail"))
        nested = self.cases_at(56)[0]
        self.assertEqual(nested.expected_output, "ip saddr { 1.1.1.0, 2.2.2.0, 3.3.3.0 }")

    def test_other_families_kept_when_not_filtered(self):
        everything = tfile.parse_file(ROOT, "ip/sets.t", None)
        chains = [(c.family, c.chain) for c in everything.cases if c.lineno == 32]
        self.assertEqual(chains, [("ip", "input"), ("inet", "input"),
                                  ("netdev", "ingress"), ("netdev", "egress")])


class CtAndObjectsFiles(unittest.TestCase):
    def test_any_ct_runs_on_ip_ip6_inet(self):
        parsed = tfile.parse_file(ROOT, "any/ct.t", FAMILIES)
        first = [c for c in parsed.cases if c.lineno == 7]
        self.assertEqual([c.family for c in first], ["ip", "ip6", "inet"])
        self.assertEqual(first[0].expected_output, "ct state established,related,new,untracked")
        self.assertEqual(first[0].setup, (
            "add table ip test-ip4",
            "add chain ip test-ip4 output { type filter hook output priority 0; }"))

    def test_objects_become_setup_commands(self):
        parsed = tfile.parse_file(ROOT, "ip/objects.t", FAMILIES)
        case = [c for c in parsed.cases if c.lineno == 25][0]
        self.assertEqual(case.rule, 'ct helper set "cthelp1"')
        self.assertIn("add counter ip test-ip4 cnt2 ", case.setup)
        self.assertIn("add quota ip test-ip4 qt2 over 1 kbytes", case.setup)
        self.assertIn('add ct helper ip test-ip4 cthelp1  { type "ftp" protocol tcp; }', case.setup)
        self.assertFalse(any("cthelp2" in c for c in case.setup))   # declared `fail`

    def test_broken_lines_are_skipped(self):
        parsed = tfile.parse_file(ROOT, "ip/ip.t", FAMILIES)
        self.assertEqual(parsed.skipped_broken, 10)
        self.assertFalse(any(10 <= c.lineno <= 20 or c.lineno == 33 for c in parsed.cases))
        self.assertTrue(any(c.rule == "ip version 4 ip hdrlength 5" for c in parsed.cases))


class WholeSuite(unittest.TestCase):
    def test_case_count_matches_notes(self):
        # NOTES.md: 2,911 rule cases for families ip, ip6, inet (any/ run on each).
        rules = cases.tests_py_cases(os.path.dirname(ROOT))
        self.assertEqual(len(rules), 2911)
        self.assertEqual(len({c["id"] for c in rules}), 2911)

    def test_ci_sample_is_deterministic_and_keeps_every_dump(self):
        everything = cases.all_cases(os.path.dirname(ROOT))
        a = cases.select(everything, None, ci=True)
        self.assertEqual(a, cases.select(everything, None, ci=True))
        dumps = [c for c in everything if c["kind"] == "dump"]
        self.assertEqual(len(dumps), 118)
        self.assertTrue(all(c in a for c in dumps))
        rules = [c for c in a if c["kind"] == "rule"]
        self.assertTrue(500 < len(rules) < 1000, len(rules))
        self.assertEqual({c["group"] for c in rules},
                         {"tests-py/any", "tests-py/ip", "tests-py/ip6", "tests-py/inet"})


class Listing(unittest.TestCase):
    TEXT = (
        "table inet t { # handle 7\n"
        "\tset s { # handle 3\n\t\ttype ipv4_addr\n\t\telements = { 1.1.1.1,\n\t\t\t     2.2.2.2 }\n\t}\n"
        "\tchain c { # handle 1\n\t\ttype filter hook input priority filter; policy accept;\n"
        "\t\tip saddr { 3.3.3.3, 4.4.4.4 } accept # handle 4\n\t\tjump d # handle 5\n\t}\n"
        "\tchain d { # handle 2\n\t}\n"
        "\tct helper h { # handle 6\n\t\ttype \"ftp\" protocol tcp\n\t}\n"
        "}\n")

    def test_teardown_plan(self):
        self.assertEqual(listing.teardown_commands(listing.parse_handles(self.TEXT)), [
            "delete rule inet t c handle 4", "delete rule inet t c handle 5",
            "delete chain inet t c", "delete chain inet t d",
            "delete set inet t s", "delete ct helper inet t h"])


class Normalize(unittest.TestCase):
    def test_table_handles_renumbered_others_kept(self):
        a = "table ip a { # handle 12\n\tchain c { # handle 1\n\t}\n}\ntable ip b { # handle 15\n}\n"
        b = "table ip a { # handle 1\n\tchain c { # handle 1\n\t}\n}\ntable ip b { # handle 2\n}\n"
        self.assertEqual(normalize.normalize_stdout("list -a", "nft -a list ruleset", a),
                         normalize.normalize_stdout("list -a", "nft -a list ruleset", b))
        c = b.replace("chain c { # handle 1", "chain c { # handle 2")
        self.assertNotEqual(normalize.normalize_stdout("list -a", "nft -a list ruleset", a),
                            normalize.normalize_stdout("list -a", "nft -a list ruleset", c))

    def test_echo_table_handle_and_generation(self):
        a = "add table ip e # handle 40\n# new generation 90 by process 7 (nft)\n"
        b = "add table ip e # handle 4\n# new generation 12 by process 8 (nft)\n"
        self.assertEqual(normalize.normalize_stdout("e", "nft -e -a add table ip e", a),
                         normalize.normalize_stdout("e", "nft -e -a add table ip e", b))
        c = "add chain ip e c # handle 1\n"       # chain handles are compared as they are
        d = "add chain ip e c # handle 2\n"
        self.assertNotEqual(normalize.normalize_stdout("e", "nft -e -a add chain ip e c", c),
                            normalize.normalize_stdout("e", "nft -e -a add chain ip e c", d))

    def test_json_table_handles(self):
        a = '{"nftables": [{"table": {"family": "ip", "name": "x", "handle": 9}}]}'
        b = '{"nftables": [{"table": {"family": "ip", "name": "x", "handle": 2}}]}'
        self.assertEqual(normalize.normalize_stdout("list -j", "nft -j list ruleset", a),
                         normalize.normalize_stdout("list -j", "nft -j list ruleset", b))

    def test_expiry_countdown_ignored_timeouts_kept(self):
        a = "elements = { 10.2.1.1 expires 59s992ms, 192.168.3.4 timeout 30s expires 29s992ms }"
        b = "elements = { 10.2.1.1 expires 59s988ms, 192.168.3.4 timeout 30s expires 29s988ms }"
        c = b.replace("timeout 30s", "timeout 31s")
        n = [normalize.normalize_stdout("list", "nft list ruleset", x) for x in (a, b, c)]
        self.assertEqual(n[0], n[1])
        self.assertNotEqual(n[1], n[2])
        j = ['{"elem": {"val": "10.2.1.1", "expires": %d}}' % e for e in (59992, 59988)]
        self.assertEqual(*[normalize.normalize_stdout("list -j", "nft -j list ruleset", x) for x in j])

    def test_dormant_table_json_cut_at_nft_use_after_free(self):
        head = '{"nftables": [{"table": {"family": "ip", "name": "x", "handle": 7, "flags": '
        a = head + '"x"}}, {"chain": {"name": "y"}}]}\n'
        b = head + '\n'
        n = [normalize.normalize_stdout("list -j", "nft -j list ruleset", x) for x in (a, b)]
        self.assertEqual(n[0], n[1])
        ok = '{"nftables": [{"table": {"family": "ip", "name": "x", "handle": 7, "flags": ["dormant", "owner"]}}]}'
        self.assertIn('"flags": ["dormant", "owner"]', normalize.normalize_stdout("list -j", "nft -j list ruleset", ok))

    def test_monitor_generations(self):
        a = "add table ip t\n# new generation 40 by process 77 (nft)\n# new generation 42 by process 78 (nft)\n"
        b = "add table ip t\n# new generation 3 by process 9 (nft)\n# new generation 5 by process 10 (nft)\n"
        c = "add table ip t\n# new generation 3 by process 9 (nft)\n# new generation 4 by process 10 (nft)\n"
        norm = [normalize.normalize_stdout("monitor output", "nft monitor", x) for x in (a, b, c)]
        self.assertEqual(norm[0], norm[1])
        self.assertNotEqual(norm[1], norm[2])


if __name__ == "__main__":
    unittest.main()
