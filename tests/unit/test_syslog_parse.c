/* Syslog parser: a table of real-world and hostile lines with exact expected
 * fields, time zones checked against glibc, SD helpers, severity mapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collector/error.h"
#include "collector/mem.h"
#include "receivers/syslog/syslog_parse.h"

/* ---- expected values -------------------------------------------------- */

typedef struct {
    int y, mo, d, h, mi, s;
    long ns;
    int off_min; /* the parts above are local time at this offset (east) */
} tparts_t;

typedef struct {
    const char *name;
    const char *in;
    size_t in_len;
    vg_syslog_protocol_t proto;
    const char *loc; /* zone name, NULL = UTC */
    const char *now; /* "YYYY-MM-DDTHH:MM:SSZ", NULL = NOW below */
    bool skip_pri;
    /* expected */
    const char *error; /* NULL: parses */
    int pri;           /* -1: no PRI (priority 13 by default) */
    int version;
    vg_syslog_protocol_t got_proto;
    tparts_t ts;       /* y == 0: no timestamp */
    const char *host, *app, *pid, *msgid;
    const char *msg;   /* NULL: absent */
    size_t msg_len;
    const char *sd;    /* "[id k=v k=v][id2]" with values unescaped; NULL: none */
} pcase_t;

#define NOW "2025-06-15T12:00:00Z"
#define IN(s) .in = (s), .in_len = sizeof(s) - 1
#define MSG(s) .msg = (s), .msg_len = sizeof(s) - 1
#define T(y, mo, d, h, mi, s, ns, off) .ts = {y, mo, d, h, mi, s, ns, off}
#define R5 .proto = VG_SYSLOG_RFC5424, .got_proto = VG_SYSLOG_RFC5424
#define R3 .proto = VG_SYSLOG_RFC3164, .got_proto = VG_SYSLOG_RFC3164
#define BOM "\xEF\xBB\xBF"

static const pcase_t cases[] = {
    /* ---------------- RFC 5424 ---------------- */
    {"rfc5424 example 1 (BOM)", R5,
     IN("<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - " BOM "'su root' failed for lonvick on /dev/pts/8"),
     .pri = 34, .version = 1, T(2003, 10, 11, 22, 14, 15, 3000000, 0), .host = "mymachine.example.com", .app = "su",
     .msgid = "ID47", MSG("'su root' failed for lonvick on /dev/pts/8")},
    {"rfc5424 example 2 (offset, micro)", R5,
     IN("<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts."),
     .pri = 165, .version = 1, T(2003, 8, 24, 5, 14, 15, 3000, -420), .host = "192.0.2.1", .app = "myproc", .pid = "8710",
     MSG("%% It's time to make the do-nuts.")},
    {"rfc5424 example 3 (SD)", R5,
     IN("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" "
        "eventSource=\"Application\" eventID=\"1011\"] " BOM "An application event log entry..."),
     .pri = 165, .version = 1, T(2003, 10, 11, 22, 14, 15, 3000000, 0), .host = "mymachine.example.com", .app = "evntslog",
     .msgid = "ID47", MSG("An application event log entry..."),
     .sd = "[exampleSDID@32473 iut=3 eventSource=Application eventID=1011]"},
    {"rfc5424 example 4 (two SD, no MSG)", R5,
     IN("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" "
        "eventSource=\"Application\" eventID=\"1011\"][examplePriority@32473 class=\"high\"]"),
     .pri = 165, .version = 1, T(2003, 10, 11, 22, 14, 15, 3000000, 0), .host = "mymachine.example.com", .app = "evntslog",
     .msgid = "ID47", .sd = "[exampleSDID@32473 iut=3 eventSource=Application eventID=1011][examplePriority@32473 class=high]"},
    {"SecureAuth (Collector test line)", R5,
     IN("<86>1 2015-08-05T21:58:59.693Z 192.168.2.132 SecureAuth0 23108 ID52020 [SecureAuth@27389 "
        "UserHostAddress=\"192.168.2.132\" Realm=\"SecureAuth0\" UserID=\"Tester2\" PEN=\"27389\"] Found the user for "
        "retrieving user's profile"),
     .pri = 86, .version = 1, T(2015, 8, 5, 21, 58, 59, 693000000, 0), .host = "192.168.2.132", .app = "SecureAuth0",
     .pid = "23108", .msgid = "ID52020", MSG("Found the user for retrieving user's profile"),
     .sd = "[SecureAuth@27389 UserHostAddress=192.168.2.132 Realm=SecureAuth0 UserID=Tester2 PEN=27389]"},
    {"logger --rfc5424", R5,
     IN("<13>1 2025-06-15T11:59:58.123456+00:00 myhost alice - - [timeQuality tzKnown=\"1\" isSynced=\"1\" "
        "syncAccuracy=\"43500\"] hello world"),
     .pri = 13, .version = 1, T(2025, 6, 15, 11, 59, 58, 123456000, 0), .host = "myhost", .app = "alice",
     MSG("hello world"), .sd = "[timeQuality tzKnown=1 isSynced=1 syncAccuracy=43500]"},
    {"logger --rfc5424 --sd-id --msgid", R5,
     IN("<13>1 2025-06-15T14:00:00.000001+02:00 myhost alice 4321 audit [timeQuality tzKnown=\"1\" isSynced=\"0\"]"
        "[zoo@123 tiger=\"hungry\" zebra=\"running\"] feeding time"),
     .pri = 13, .version = 1, T(2025, 6, 15, 14, 0, 0, 1000, 120), .host = "myhost", .app = "alice", .pid = "4321",
     .msgid = "audit", MSG("feeding time"), .sd = "[timeQuality tzKnown=1 isSynced=0][zoo@123 tiger=hungry zebra=running]"},
    {"RSYSLOG_SyslogProtocol23Format + LF", R5,
     IN("<86>1 2025-06-15T11:59:59.999999+00:00 web01 sshd 12345 - - Accepted publickey for root from 10.0.0.1 port 22 ssh2\n"),
     .pri = 86, .version = 1, T(2025, 6, 15, 11, 59, 59, 999999000, 0), .host = "web01", .app = "sshd", .pid = "12345",
     MSG("Accepted publickey for root from 10.0.0.1 port 22 ssh2")},
    {"all NILVALUE, no MSG", R5, IN("<0>1 - - - - - -"), .pri = 0, .version = 1},
    {"all NILVALUE, empty MSG", R5, IN("<0>1 - - - - - - "), .pri = 0, .version = 1, MSG("")},
    {"SD escapes", R5,
     IN("<14>1 2025-01-01T00:00:00Z h a p m [x@1 q=\"a\\\"b\" bs=\"c\\\\d\" br=\"e\\]f\" other=\"g\\nh\"] m"),
     .pri = 14, .version = 1, T(2025, 1, 1, 0, 0, 0, 0, 0), .host = "h", .app = "a", .pid = "p", .msgid = "m", MSG("m"),
     .sd = "[x@1 q=a\"b bs=c\\d br=e]f other=g\\nh]"},
    {"SD unescaped ] inside quotes", R5, IN("<14>1 - h a - - [x@1 v=\"a]b\" w=\"\"] x"), .pri = 14, .version = 1,
     .host = "h", .app = "a", MSG("x"), .sd = "[x@1 v=a]b w=]"},
    {"SD elements without params", R5, IN("<14>1 - - - - - [a][b c=\"d\"][e] tail"), .pri = 14, .version = 1,
     MSG("tail"), .sd = "[a][b c=d][e]"},
    {"systemd-netlogd", R5,
     IN("<30>1 2025-06-15T11:59:00.123456+00:00 node1 systemd 1 - [meta sequenceId=\"12\"] Started Session 5 of user root."),
     .pri = 30, .version = 1, T(2025, 6, 15, 11, 59, 0, 123456000, 0), .host = "node1", .app = "systemd", .pid = "1",
     MSG("Started Session 5 of user root."), .sd = "[meta sequenceId=12]"},
    {"Juniper structured-data", R5,
     IN("<165>1 2025-06-15T13:59:58.421+02:00 mx480-re0 mgd 7890 UI_COMMIT_COMPLETED [junos@2636.1.1.1.2.18 "
        "username=\"admin\"] commit complete"),
     .pri = 165, .version = 1, T(2025, 6, 15, 13, 59, 58, 421000000, 120), .host = "mx480-re0", .app = "mgd",
     .pid = "7890", .msgid = "UI_COMMIT_COMPLETED", MSG("commit complete"), .sd = "[junos@2636.1.1.1.2.18 username=admin]"},
    {"9 fraction digits", R5, IN("<13>1 2025-06-15T12:00:00.123456789Z h a - - - x"), .pri = 13, .version = 1,
     T(2025, 6, 15, 12, 0, 0, 123456789, 0), .host = "h", .app = "a", MSG("x")},
    {"10 fraction digits", R5, IN("<13>1 2025-06-15T12:00:00.1234567891Z h a - - - x"), .error = "invalid TIMESTAMP",
     .pri = 13, .version = 1},
    {"offset -03:30", R5, IN("<13>1 2025-06-15T08:30:00.5-03:30 h - - - - x"), .pri = 13, .version = 1,
     T(2025, 6, 15, 8, 30, 0, 500000000, -210), .host = "h", MSG("x")},
    {"leap second", R5, IN("<13>1 2016-12-31T23:59:60Z h - - - - x"), .pri = 13, .version = 1,
     T(2017, 1, 1, 0, 0, 0, 0, 0), .host = "h", MSG("x")},
    {"lower-case t and z", R5, IN("<13>1 2025-06-15t12:00:00z h - - - - x"), .pri = 13, .version = 1,
     T(2025, 6, 15, 12, 0, 0, 0, 0), .host = "h", MSG("x")},
    {"version 12", R5, IN("<13>12 - - - - - - x"), .pri = 13, .version = 12, MSG("x")},
    {"MSG keeps leading space", R5, IN("<86>1 2015-08-05T21:58:59.693Z 192.168.2.132 inactive - - -  partition is p2 "),
     .pri = 86, .version = 1, T(2015, 8, 5, 21, 58, 59, 693000000, 0), .host = "192.168.2.132", .app = "inactive",
     MSG(" partition is p2 ")},
    {"NUL byte in MSG", R5, IN("<13>1 - h a - - - ab\0cd"), .pri = 13, .version = 1, .host = "h", .app = "a",
     MSG("ab\0cd")},
    {"invalid UTF-8 in MSG kept as is", R5, IN("<13>1 - h a - - - \xC3\x28 \xFF\xFE bad"), .pri = 13, .version = 1,
     .host = "h", .app = "a", MSG("\xC3\x28 \xFF\xFE bad")},
    {"missing STRUCTURED-DATA", R5, IN("<13>1 - h a p m"), .error = "invalid MSGID", .pri = 13, .version = 1,
     .host = "h", .app = "a", .pid = "p"},
    {"missing SD after MSGID SP", R5, IN("<13>1 - h a p m "), .error = "invalid STRUCTURED-DATA", .pri = 13, .version = 1,
     .host = "h", .app = "a", .pid = "p", .msgid = "m"},
    {"PRI <999>", R5, IN("<999>1 - - - - - - x"), .error = "invalid PRI", .pri = -1},
    {"PRI <>", R5, IN("<>1 - - - - - - x"), .error = "invalid PRI", .pri = -1},
    {"PRI <192>", R5, IN("<192>1 - - - - - - x"), .error = "invalid PRI", .pri = -1},
    {"PRI unterminated", R5, IN("<13"), .error = "invalid PRI", .pri = -1},
    {"5424 without PRI", R5, IN("1 - - - - - - x"), .error = "missing PRI", .pri = -1},
    {"5424 without PRI allowed", R5, IN("1 2015-08-05T21:58:59.693Z h a - - - x"), .skip_pri = true, .pri = -1,
     .version = 1, T(2015, 8, 5, 21, 58, 59, 693000000, 0), .host = "h", .app = "a", MSG("x")},
    {"VERSION 0", R5, IN("<13>0 - - - - - - x"), .error = "invalid VERSION", .pri = 13},
    {"VERSION missing", R5, IN("<13> - - - - - x"), .error = "invalid VERSION", .pri = 13},
    {"Feb 30", R5, IN("<13>1 2025-02-30T12:00:00Z h - - - - x"), .error = "invalid TIMESTAMP value", .pri = 13,
     .version = 1},
    {"25:61:61", R5, IN("<13>1 2025-06-15T25:61:61Z h - - - - x"), .error = "invalid TIMESTAMP value", .pri = 13,
     .version = 1},
    {"timestamp without offset", R5, IN("<13>1 2025-06-15T12:00:00 h - - - - x"), .error = "invalid TIMESTAMP",
     .pri = 13, .version = 1},
    {"year 1600 out of range", R5, IN("<13>1 1600-01-01T00:00:00Z h - - - - x"), .error = "TIMESTAMP out of range",
     .pri = 13, .version = 1},
    {"truncated after HOSTNAME", R5, IN("<13>1 2025-06-15T12:00:00Z host"), .error = "invalid HOSTNAME", .pri = 13,
     .version = 1, T(2025, 6, 15, 12, 0, 0, 0, 0)},
    {"truncated inside TIMESTAMP", R5, IN("<13>1 2025-06-15T12:0"), .error = "invalid TIMESTAMP", .pri = 13,
     .version = 1},
    {"NUL in HOSTNAME", R5, IN("<13>1 - ho\0st a - - - x"), .error = "invalid HOSTNAME", .pri = 13, .version = 1},
    {"unterminated PARAM-VALUE", R5, IN("<13>1 - h a - - [x@1 a=\"b] msg"), .error = "unterminated PARAM-VALUE",
     .pri = 13, .version = 1, .host = "h", .app = "a"},
    {"SD without SP before MSG", R5, IN("<13>1 - h a - - [a]x"), .error = "expected SP before MSG", .pri = 13,
     .version = 1, .host = "h", .app = "a"},
    {"SD param without quotes", R5, IN("<13>1 - h a - - [a b=c] x"), .error = "expected '\"' in SD-PARAM", .pri = 13,
     .version = 1, .host = "h", .app = "a"},
    {"empty input", R5, IN(""), .error = "empty message", .pri = -1},
    {"only a newline", R5, IN("\r\n"), .error = "empty message", .pri = -1},

    /* ---------------- RFC 3164 ---------------- */
    {"rfc3164 example (year inferred back)", R3,
     IN("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8"), .pri = 34,
     T(2024, 10, 11, 22, 14, 15, 0, 0), .host = "mymachine", .app = "su", MSG("'su root' failed for lonvick on /dev/pts/8")},
    {"cron with pid", R3, IN("<78>Jun  5 08:00:01 web01 CRON[12345]: (root) CMD (run-parts /etc/cron.hourly)"),
     .pri = 78, T(2025, 6, 5, 8, 0, 1, 0, 0), .host = "web01", .app = "CRON", .pid = "12345",
     MSG("(root) CMD (run-parts /etc/cron.hourly)")},
    {"journald ForwardToSyslog via /dev/log (no hostname)", R3,
     IN("<30>Jun 15 11:59:59 systemd[1]: Starting Cleanup of Temporary Directories..."), .pri = 30,
     T(2025, 6, 15, 11, 59, 59, 0, 0), .app = "systemd", .pid = "1", MSG("Starting Cleanup of Temporary Directories...")},
    {"tag without pid", R3, IN("<38>Jun 15 11:00:00 host sshd: Connection closed by 10.0.0.7 port 50122"), .pri = 38,
     T(2025, 6, 15, 11, 0, 0, 0, 0), .host = "host", .app = "sshd", MSG("Connection closed by 10.0.0.7 port 50122")},
    {"kernel", R3, IN("<6>Jun 15 11:00:00 host kernel: [12345.678901] e1000e: eth0 NIC Link is Up"), .pri = 6,
     T(2025, 6, 15, 11, 0, 0, 0, 0), .host = "host", .app = "kernel", MSG("[12345.678901] e1000e: eth0 NIC Link is Up")},
    {"no PRI at all", R3, IN("Jun 15 11:00:00 host app[1]: msg"), .pri = -1, T(2025, 6, 15, 11, 0, 0, 0, 0),
     .host = "host", .app = "app", .pid = "1", MSG("msg")},
    {"RSYSLOG_ForwardFormat (RFC 3339 in 3164)", R3,
     IN("<13>2025-06-15T11:59:59.123456+02:00 host app[1]: hello"), .pri = 13, T(2025, 6, 15, 11, 59, 59, 123456000, 120),
     .host = "host", .app = "app", .pid = "1", MSG("hello")},
    {"RFC 3339 without offset uses location", R3, IN("<13>2025-06-15T08:00:00 host app: x"), .loc = "America/New_York",
     .pri = 13, T(2025, 6, 15, 12, 0, 0, 0, 0), .host = "host", .app = "app", MSG("x")},
    {"date SP time ISO-ish", R3, IN("<13>2025-06-15 10:00:00 host app: x"), .pri = 13, T(2025, 6, 15, 10, 0, 0, 0, 0),
     .host = "host", .app = "app", MSG("x")},
    {"New York summer", R3, IN("<13>Jun 15 08:00:00 host app: x"), .loc = "America/New_York", .pri = 13,
     T(2025, 6, 15, 12, 0, 0, 0, 0), .host = "host", .app = "app", MSG("x")},
    {"New York winter", R3, IN("<13>Jan 15 07:00:00 host app: x"), .loc = "America/New_York", .pri = 13,
     T(2025, 1, 15, 12, 0, 0, 0, 0), .host = "host", .app = "app", MSG("x")},
    {"Athens", R3, IN("<13>Jun 15 15:00:00 host app: x"), .loc = "Europe/Athens", .pri = 13,
     T(2025, 6, 15, 12, 0, 0, 0, 0), .host = "host", .app = "app", MSG("x")},
    {"Sydney summer (southern DST)", R3, IN("<13>Jan 15 23:00:00 host app: x"), .loc = "Australia/Sydney", .pri = 13,
     T(2025, 1, 15, 12, 0, 0, 0, 0), .host = "host", .app = "app", MSG("x")},
    {"Dec 31 line arriving Jan 1", R3, IN("<13>Dec 31 23:59:58 host app: x"), .now = "2025-01-01T00:00:10Z", .pri = 13,
     T(2024, 12, 31, 23, 59, 58, 0, 0), .host = "host", .app = "app", MSG("x")},
    {"Jan 1 line arriving Dec 31", R3, IN("<13>Jan  1 00:00:05 host app: x"), .now = "2024-12-31T23:59:50Z", .pri = 13,
     T(2025, 1, 1, 0, 0, 5, 0, 0), .host = "host", .app = "app", MSG("x")},
    {"Dec 31 New York on Jan 1 UTC", R3, IN("<13>Dec 31 19:30:00 host app: x"), .loc = "America/New_York",
     .now = "2025-01-01T00:40:00Z", .pri = 13, T(2025, 1, 1, 0, 30, 0, 0, 0), .host = "host", .app = "app", MSG("x")},
    {"Feb 29 picks the last leap year", R3, IN("<13>Feb 29 12:00:00 host app: x"), .pri = 13,
     T(2024, 2, 29, 12, 0, 0, 0, 0), .host = "host", .app = "app", MSG("x")},
    {"Feb 30", R3, IN("<13>Feb 30 12:00:00 host app: x"), .error = "invalid TIMESTAMP value", .pri = 13},
    {"25:61:61", R3, IN("<13>Jun 15 25:61:61 host app: x"), .error = "invalid TIMESTAMP value", .pri = 13},
    {"day 0", R3, IN("<13>Jun  0 10:00:00 host app: x"), .error = "invalid TIMESTAMP value", .pri = 13},
    {"Cisco IOS seq + unsynced clock", R3,
     IN("<189>36: *Mar  1 00:04:12.351: %SYS-5-CONFIG_I: Configured from console by vty0 (10.0.0.5)"), .pri = 189,
     T(2025, 3, 1, 0, 4, 12, 351000000, 0), .app = "%SYS-5-CONFIG_I", MSG("Configured from console by vty0 (10.0.0.5)")},
    {"Cisco IOS with UTC zone", R3,
     IN("<187>1234: Jun 15 10:00:00.123 UTC: %LINEPROTO-5-UPDOWN: Line protocol on Interface Gi0/1, changed state to down"),
     .loc = "America/New_York", .pri = 187, T(2025, 6, 15, 10, 0, 0, 123000000, 0), .app = "%LINEPROTO-5-UPDOWN",
     MSG("Line protocol on Interface Gi0/1, changed state to down")},
    {"Cisco IOS with local zone name uses location", R3,
     IN("<187>1235: Jun 15 10:00:00 EDT: %SYS-5-RESTART: System restarted"), .loc = "America/New_York", .pri = 187,
     T(2025, 6, 15, 14, 0, 0, 0, 0), .app = "%SYS-5-RESTART", MSG("System restarted")},
    {"Cisco ASA with year", R3,
     IN("<166>Jun 15 2025 10:00:00: %ASA-6-302013: Built outbound TCP connection 123 for outside:1.2.3.4/443 "
        "(1.2.3.4/443) to inside:10.0.0.2/5555 (10.0.0.2/5555)"),
     .pri = 166, T(2025, 6, 15, 10, 0, 0, 0, 0), .app = "%ASA-6-302013",
     MSG("Built outbound TCP connection 123 for outside:1.2.3.4/443 (1.2.3.4/443) to inside:10.0.0.2/5555 (10.0.0.2/5555)")},
    {"Juniper Junos", R3,
     IN("<28>Jun 15 10:00:00 mx480 mib2d[1234]: SNMP_TRAP_LINK_DOWN: ifIndex 500, ifAdminStatus up(1), ifOperStatus "
        "down(2), ifName ge-0/0/0"),
     .pri = 28, T(2025, 6, 15, 10, 0, 0, 0, 0), .host = "mx480", .app = "mib2d", .pid = "1234",
     MSG("SNMP_TRAP_LINK_DOWN: ifIndex 500, ifAdminStatus up(1), ifOperStatus down(2), ifName ge-0/0/0")},
    {"FortiGate key=value, no header", R3,
     IN("<189>date=2025-06-15 time=10:00:00 devname=\"FGT60F\" devid=\"FGT60FTK1234\" logid=\"0000000013\" "
        "type=\"traffic\" subtype=\"forward\" level=\"notice\""),
     .pri = 189,
     MSG("date=2025-06-15 time=10:00:00 devname=\"FGT60F\" devid=\"FGT60FTK1234\" logid=\"0000000013\" type=\"traffic\" "
         "subtype=\"forward\" level=\"notice\"")},
    {"Palo Alto CSV", R3, IN("<14>Jun 15 10:00:00 PA-VM 1,2025/06/15 10:00:00,012345678901,TRAFFIC,end,2305"), .pri = 14,
     T(2025, 6, 15, 10, 0, 0, 0, 0), .host = "PA-VM", MSG("1,2025/06/15 10:00:00,012345678901,TRAFFIC,end,2305")},
    {"MikroTik (no timestamp)", R3, IN("<30>firewall,info input: in:ether1 out:(unknown 0), src-mac 00:11:22:33:44:55"),
     .pri = 30, MSG("firewall,info input: in:ether1 out:(unknown 0), src-mac 00:11:22:33:44:55")},
    {"UniFi AP hostapd", R3,
     IN("<30>Jun 15 10:00:00 UniFi-AP hostapd: ath0: STA 00:11:22:33:44:55 IEEE 802.11: associated"), .pri = 30,
     T(2025, 6, 15, 10, 0, 0, 0, 0), .host = "UniFi-AP", .app = "hostapd",
     MSG("ath0: STA 00:11:22:33:44:55 IEEE 802.11: associated")},
    {"postfix tag with slash", R3, IN("<22>Jun 15 10:00:00 mail postfix/smtpd[2345]: connect from unknown[10.0.0.9]"),
     .pri = 22, T(2025, 6, 15, 10, 0, 0, 0, 0), .host = "mail", .app = "postfix/smtpd", .pid = "2345",
     MSG("connect from unknown[10.0.0.9]")},
    {"logger --rfc3164 to network", R3, IN("<13>Jun 15 11:59:59 myhost alice: hello"), .pri = 13,
     T(2025, 6, 15, 11, 59, 59, 0, 0), .host = "myhost", .app = "alice", MSG("hello")},
    {"RSYSLOG_TraditionalForwardFormat", R3, IN("<29>Jun 15 11:59:59 node7 dhclient[812]: bound to 10.1.2.3 -- renewal in 1800 seconds."),
     .pri = 29, T(2025, 6, 15, 11, 59, 59, 0, 0), .host = "node7", .app = "dhclient", .pid = "812",
     MSG("bound to 10.1.2.3 -- renewal in 1800 seconds.")},
    {"single-digit day without pad", R3, IN("<13>Jun 5 08:00:01 host app: x"), .pri = 13, T(2025, 6, 5, 8, 0, 1, 0, 0),
     .host = "host", .app = "app", MSG("x")},
    {"lower-case month", R3, IN("<13>jun 15 10:00:00 host app: x"), .pri = 13, T(2025, 6, 15, 10, 0, 0, 0, 0),
     .host = "host", .app = "app", MSG("x")},
    {"app[pid] without colon", R3, IN("<13>Jun 15 10:00:00 host app[42] msg"), .pri = 13, T(2025, 6, 15, 10, 0, 0, 0, 0),
     .host = "host", .app = "app", .pid = "42", MSG("msg")},
    {"IPv6 hostname", R3, IN("<13>Jun 15 10:00:00 2001:db8::1 sshd[7]: hi"), .pri = 13, T(2025, 6, 15, 10, 0, 0, 0, 0),
     .host = "2001:db8::1", .app = "sshd", .pid = "7", MSG("hi")},
    {"no tag after hostname", R3, IN("<13>Jun 15 10:00:00 host message without tag"), .pri = 13,
     T(2025, 6, 15, 10, 0, 0, 0, 0), .host = "host", MSG("message without tag")},
    {"no timestamp, tag", R3, IN("<30>dnsmasq[123]: query[A] example.com from 10.0.0.1"), .pri = 30, .app = "dnsmasq",
     .pid = "123", MSG("query[A] example.com from 10.0.0.1")},
    {"hostname only", R3, IN("<13>Jun 15 10:00:00 host"), .pri = 13, T(2025, 6, 15, 10, 0, 0, 0, 0), .host = "host",
     MSG("")},
    {"PRI only", R3, IN("<13>"), .pri = 13, MSG("")},
    {"PRI <999>", R3, IN("<999>Jun 15 10:00:00 host app: x"), .error = "invalid PRI", .pri = -1},
    {"PRI <>", R3, IN("<>Jun 15 10:00:00 host app: x"), .error = "invalid PRI", .pri = -1},
    {"invalid UTF-8", R3, IN("<13>Jun 15 10:00:00 host app: caf\xE9 \xF0\x28\x8C\x28"), .pri = 13,
     T(2025, 6, 15, 10, 0, 0, 0, 0), .host = "host", .app = "app", MSG("caf\xE9 \xF0\x28\x8C\x28")},
    {"NUL bytes in MSG", R3, IN("<13>Jun 15 10:00:00 host app: a\0b\0c"), .pri = 13, T(2025, 6, 15, 10, 0, 0, 0, 0),
     .host = "host", .app = "app", MSG("a\0b\0c")},
    {"truncated timestamp", R3, IN("<13>Jun 15 10:0"), .pri = 13, MSG("Jun 15 10:0")},
    {"Windows CRLF", R3, IN("<13>Jun 15 10:00:00 host app: x\r\n"), .pri = 13, T(2025, 6, 15, 10, 0, 0, 0, 0),
     .host = "host", .app = "app", MSG("x")},
    {"NUL trailer", R3, IN("<13>Jun 15 10:00:00 host app: x\0"), .pri = 13, T(2025, 6, 15, 10, 0, 0, 0, 0),
     .host = "host", .app = "app", MSG("x")},
    {"no hostname, tag right after time", R3, IN("<13>Jun 15 10:00:00 app: x"), .pri = 13,
     T(2025, 6, 15, 10, 0, 0, 0, 0), .app = "app", MSG("x")},
    {"upper-case tag is not a zone", R3, IN("<13>Jun 15 10:00:00 CRON: x"), .loc = "Europe/Athens", .pri = 13,
     T(2025, 6, 15, 7, 0, 0, 0, 0), .app = "CRON", MSG("x")},
    {"word starting like a month", R3, IN("<13>Janet: hello"), .pri = 13, .app = "Janet", MSG("hello")},
    {"plain text without PRI", R3, IN("hello world"), .pri = -1, MSG("hello world")},

    /* ---------------- auto ---------------- */
    {"auto: 5424", .proto = VG_SYSLOG_AUTO, .got_proto = VG_SYSLOG_RFC5424, IN("<13>1 2025-06-15T12:00:00Z h a - - - x"),
     .pri = 13, .version = 1, T(2025, 6, 15, 12, 0, 0, 0, 0), .host = "h", .app = "a", MSG("x")},
    {"auto: 3164", .proto = VG_SYSLOG_AUTO, .got_proto = VG_SYSLOG_RFC3164, IN("<13>Jun 15 10:00:00 host app: x"),
     .pri = 13, T(2025, 6, 15, 10, 0, 0, 0, 0), .host = "host", .app = "app", MSG("x")},
    {"auto: 5424-looking garbage falls back", .proto = VG_SYSLOG_AUTO, .got_proto = VG_SYSLOG_RFC3164,
     IN("<13>1 garbage here"), .pri = 13, MSG("1 garbage here")},
};

/* ---- helpers ------------------------------------------------------------ */

static int64_t iso_sec(const char *s)
{
    struct tm tm = {0};
    if (sscanf(s, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        fail_msg("bad now %s", s);
    tm.tm_year -= 1900, tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

static int64_t iso_now(const char *s) { return iso_sec(s) * 1000000000LL; }

static int64_t expected_ns(const tparts_t *t)
{
    struct tm tm = {.tm_year = t->y - 1900, .tm_mon = t->mo - 1, .tm_mday = t->d, .tm_hour = t->h, .tm_min = t->mi,
                    .tm_sec = t->s};
    return ((int64_t)timegm(&tm) - t->off_min * 60) * 1000000000LL + t->ns;
}

static void check_str(const char *cname, const char *field, vg_syslog_str_t got, const char *want, size_t want_len)
{
    if (!want) {
        if (got.ptr)
            fail_msg("%s: %s should be absent, got '%.*s'", cname, field, (int)got.len, got.ptr);
        return;
    }
    if (!got.ptr) fail_msg("%s: %s absent, want '%s'", cname, field, want);
    if (got.len != want_len || memcmp(got.ptr, want, want_len) != 0)
        fail_msg("%s: %s = '%.*s' (%zu), want '%.*s' (%zu)", cname, field, (int)got.len, got.ptr, got.len,
                 (int)want_len, want, want_len);
}

/* "[id k=v ...]..." from the parsed arrays, values unescaped */
static void render_sd(const vg_syslog_msg_t *m, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = 0;
    for (unsigned e = 0; e < m->sd_count; e++) {
        const vg_syslog_sd_element_t *el = &m->sd[e];
        o += (size_t)snprintf(out + o, cap - o, "[%.*s", (int)el->id.len, el->id.ptr);
        for (unsigned i = 0; i < el->n_params; i++) {
            const vg_syslog_sd_param_t *pa = &m->params[el->first_param + i];
            char v[1024];
            assert_true(pa->value.len < sizeof v);
            size_t n = vg_syslog_sd_unescape(pa->value, v);
            assert_int_equal(pa->escaped, memchr(pa->value.ptr, '\\', pa->value.len) != NULL);
            o += (size_t)snprintf(out + o, cap - o, " %.*s=%.*s", (int)pa->name.len, pa->name.ptr, (int)n, v);
        }
        o += (size_t)snprintf(out + o, cap - o, "]");
    }
}

/* the same through the iterator */
static void render_sd_iter(vg_syslog_str_t raw, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = 0;
    vg_syslog_sd_iter_t it;
    vg_syslog_str_t id;
    vg_syslog_sd_param_t pa;
    vg_syslog_sd_iter_init(&it, raw);
    while (vg_syslog_sd_iter_element(&it, &id)) {
        o += (size_t)snprintf(out + o, cap - o, "[%.*s", (int)id.len, id.ptr);
        while (vg_syslog_sd_iter_param(&it, &pa)) {
            char v[1024];
            size_t n = vg_syslog_sd_unescape(pa.value, v);
            o += (size_t)snprintf(out + o, cap - o, " %.*s=%.*s", (int)pa.name.len, pa.name.ptr, (int)n, v);
        }
        o += (size_t)snprintf(out + o, cap - o, "]");
    }
}

static vg_syslog_tz_t *zone(const char *name)
{
    vg_syslog_tz_t *tz = NULL;
    int rc = vg_syslog_tz_load(name, NULL, &tz);
    if (rc) fail_msg("load %s: %s", name, vg_strerror(rc));
    return tz;
}

static void test_table(void **state)
{
    (void)state;
    size_t n = sizeof cases / sizeof cases[0];
    assert_true(n >= 60);
    for (size_t i = 0; i < n; i++) {
        const pcase_t *c = &cases[i];
        vg_syslog_tz_t *tz = c->loc ? zone(c->loc) : NULL;
        vg_syslog_parse_opts_t o = {.protocol = c->proto, .location = tz, .now_ns = iso_now(c->now ? c->now : NOW),
                                    .allow_skip_pri = c->skip_pri};
        /* copy to an exact-size heap block so ASan sees any overread */
        char *in = malloc(c->in_len ? c->in_len : 1);
        memcpy(in, c->in, c->in_len);
        vg_syslog_msg_t m;
        vg_mem_fail_after(1); /* the parser must not allocate */
        int rc = vg_syslog_parse(in, c->in_len, &o, &m);
        vg_mem_fail_reset();
        if (c->error) {
            if (rc != VG_EPARSE) fail_msg("%s: parsed, want error '%s'", c->name, c->error);
            if (!m.error || strcmp(m.error, c->error) != 0)
                fail_msg("%s: error '%s', want '%s'", c->name, m.error ? m.error : "(null)", c->error);
            assert_true(m.error_offset <= c->in_len);
        } else {
            if (rc != 0) fail_msg("%s: error '%s' at %zu", c->name, m.error, m.error_offset);
            assert_null(m.error);
            if (m.protocol != c->got_proto) fail_msg("%s: protocol %d", c->name, m.protocol);
        }
        if (c->pri < 0) {
            if (m.pri_present) fail_msg("%s: PRI present", c->name);
            if (!c->error && (m.priority != 13 || m.facility != 1 || m.severity != 5))
                fail_msg("%s: default PRI %d", c->name, m.priority);
        } else {
            if (!m.pri_present || m.priority != c->pri) fail_msg("%s: PRI %d, want %d", c->name, m.priority, c->pri);
            assert_int_equal(m.facility, c->pri / 8);
            assert_int_equal(m.severity, c->pri % 8);
        }
        if (m.version != c->version) fail_msg("%s: version %d, want %d", c->name, m.version, c->version);
        if (c->ts.y) {
            if (!m.ts_present) fail_msg("%s: no timestamp", c->name);
            int64_t want = expected_ns(&c->ts);
            if (m.time_unix_nano != want)
                fail_msg("%s: time %lld, want %lld (diff %lld s)", c->name, (long long)m.time_unix_nano,
                         (long long)want, (long long)((m.time_unix_nano - want) / 1000000000LL));
            if (m.ts_has_offset && m.ts_offset_sec != c->ts.off_min * 60)
                fail_msg("%s: offset %d", c->name, m.ts_offset_sec);
            assert_non_null(m.timestamp.ptr);
        } else if (m.ts_present) {
            fail_msg("%s: unexpected timestamp", c->name);
        }
        check_str(c->name, "hostname", m.hostname, c->host, c->host ? strlen(c->host) : 0);
        check_str(c->name, "appname", m.appname, c->app, c->app ? strlen(c->app) : 0);
        check_str(c->name, "procid", m.procid, c->pid, c->pid ? strlen(c->pid) : 0);
        check_str(c->name, "msgid", m.msgid, c->msgid, c->msgid ? strlen(c->msgid) : 0);
        if (!c->error) {
            check_str(c->name, "message", m.message, c->msg, c->msg_len);
            char sd[2048], sd2[2048];
            render_sd(&m, sd, sizeof sd);
            if (c->sd ? strcmp(sd, c->sd) != 0 : m.sd_count != 0)
                fail_msg("%s: sd '%s', want '%s'", c->name, sd, c->sd ? c->sd : "");
            assert_int_equal(m.sd_raw.ptr != NULL, c->sd != NULL);
            render_sd_iter(m.sd_raw, sd2, sizeof sd2);
            assert_string_equal(sd, sd2);
            assert_false(m.sd_truncated);
        }
        free(in);
        vg_syslog_tz_free(tz);
    }
}

/* ---- specific behaviour ------------------------------------------------- */

static void test_flags(void **state)
{
    (void)state;
    vg_syslog_msg_t m;
    vg_syslog_tz_t *ny = zone("America/New_York");
    vg_syslog_parse_opts_t o = {.protocol = VG_SYSLOG_RFC3164, .location = ny, .now_ns = iso_now(NOW)};
    const char *l = "<13>Jun 15 08:00:00 host app: x";
    assert_int_equal(vg_syslog_parse(l, strlen(l), &o, &m), 0);
    assert_true(m.ts_year_inferred);
    assert_false(m.ts_has_offset);
    assert_int_equal(m.ts_offset_sec, -4 * 3600);
    check_str("flags", "timestamp", m.timestamp, "Jun 15 08:00:00", 15);
    l = "<13>2025-06-15T08:00:00-04:00 host app: x";
    assert_int_equal(vg_syslog_parse(l, strlen(l), &o, &m), 0);
    assert_false(m.ts_year_inferred);
    assert_true(m.ts_has_offset);
    check_str("flags", "timestamp", m.timestamp, "2025-06-15T08:00:00-04:00", 25);
    o.protocol = VG_SYSLOG_RFC5424;
    l = "<13>1 - - - - - - " BOM "x";
    assert_int_equal(vg_syslog_parse(l, strlen(l), &o, &m), 0);
    assert_true(m.msg_bom);
    /* opts NULL: RFC 5424 defaults */
    l = "<13>1 2025-06-15T12:00:00Z h - - - - x";
    assert_int_equal(vg_syslog_parse(l, strlen(l), NULL, &m), 0);
    assert_int_equal(m.time_unix_nano, iso_now(NOW));
    /* 3164 without `now`: the clock is read, the year is current or previous */
    o = (vg_syslog_parse_opts_t){.protocol = VG_SYSLOG_RFC3164};
    l = "<13>Jan  1 00:00:00 h a: x";
    assert_int_equal(vg_syslog_parse(l, strlen(l), &o, &m), 0);
    assert_true(m.time_unix_nano <= (int64_t)time(NULL) * 1000000000LL + 86400LL * 1000000000LL);
    assert_true(m.time_unix_nano > ((int64_t)time(NULL) - 367 * 86400LL) * 1000000000LL);
    vg_syslog_tz_free(ny);
}

static void test_huge_line(void **state)
{
    (void)state;
    size_t n = 1 << 20;
    char *buf = malloc(n);
    const char *h5 = "<13>1 2025-06-15T12:00:00Z h a - - - ";
    memcpy(buf, h5, strlen(h5));
    for (size_t i = strlen(h5); i < n; i++) buf[i] = (char)('a' + i % 26);
    vg_syslog_msg_t m;
    assert_int_equal(vg_syslog_parse(buf, n, NULL, &m), 0);
    assert_int_equal(m.message.len, n - strlen(h5));
    /* a 1 MiB hostname-less 3164 line */
    const char *h3 = "<13>Jun 15 10:00:00 app: ";
    memcpy(buf, h3, strlen(h3));
    vg_syslog_parse_opts_t o = {.protocol = VG_SYSLOG_RFC3164, .now_ns = iso_now(NOW)};
    assert_int_equal(vg_syslog_parse(buf, n, &o, &m), 0);
    check_str("huge", "appname", m.appname, "app", 3);
    assert_int_equal(m.message.len, n - strlen(h3));
    /* 1 MiB of one SD param value, and 1 MiB of '[' */
    memcpy(buf, "<13>1 - - - - - [a b=\"", 22);
    memset(buf + 22, 'x', n - 22);
    buf[n - 4] = '"', buf[n - 3] = ']', buf[n - 2] = ' ', buf[n - 1] = 'm';
    assert_int_equal(vg_syslog_parse(buf, n, NULL, &m), 0);
    assert_int_equal(m.params[0].value.len, n - 26);
    memset(buf + 16, '[', n - 16);
    assert_int_equal(vg_syslog_parse(buf, n, NULL, &m), VG_EPARSE);
    /* 1 MiB of spaces after a 3164 timestamp */
    memcpy(buf, h3, 20);
    memset(buf + 20, ' ', n - 20);
    assert_int_equal(vg_syslog_parse(buf, n, &o, &m), 0);
    assert_null(m.hostname.ptr);
    assert_int_equal(m.message.len, 0);
    free(buf);
}

static void test_sd_truncated(void **state)
{
    (void)state;
    char buf[8192];
    size_t o = (size_t)snprintf(buf, sizeof buf, "<13>1 - - - - - ");
    for (int e = 0; e < 40; e++) o += (size_t)snprintf(buf + o, sizeof buf - o, "[e%d a=\"1\" b=\"2\" c=\"3\" d=\"4\"]", e);
    o += (size_t)snprintf(buf + o, sizeof buf - o, " msg");
    vg_syslog_msg_t m;
    assert_int_equal(vg_syslog_parse(buf, o, NULL, &m), 0);
    assert_true(m.sd_truncated);
    assert_int_equal(m.sd_count, VG_SYSLOG_SD_MAX_ELEMENTS);
    assert_int_equal(m.param_count, VG_SYSLOG_SD_MAX_PARAMS);
    check_str("trunc", "message", m.message, "msg", 3);
    vg_syslog_sd_iter_t it;
    vg_syslog_str_t id;
    vg_syslog_sd_param_t pa;
    int elems = 0, params = 0;
    vg_syslog_sd_iter_init(&it, m.sd_raw);
    while (vg_syslog_sd_iter_element(&it, &id)) {
        char want[16];
        snprintf(want, sizeof want, "e%d", elems);
        check_str("iter", "id", id, want, strlen(want));
        elems++;
        if (elems % 2) /* skipping params of every other element must work too */
            while (vg_syslog_sd_iter_param(&it, &pa)) params++;
    }
    assert_int_equal(elems, 40);
    assert_int_equal(params, 20 * 4);
    /* the iterator on garbage stops safely */
    const char *bad[] = {"[", "[a", "[a b", "[a b=", "[a b=\"", "[a b=\"c", "[a b=\"c\"", "[a b=\"c\" x", "x", "[]", "[a]x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vg_syslog_sd_iter_init(&it, (vg_syslog_str_t){bad[i], strlen(bad[i])});
        int guard = 0;
        while (vg_syslog_sd_iter_element(&it, &id) && guard++ < 10)
            while (vg_syslog_sd_iter_param(&it, &pa) && guard++ < 10) {
            }
        assert_true(guard < 10);
    }
    vg_syslog_sd_iter_init(&it, (vg_syslog_str_t){NULL, 0});
    assert_false(vg_syslog_sd_iter_element(&it, &id));
}

static void test_unescape(void **state)
{
    (void)state;
    char out[64];
    const char *v = "a\\\"b\\\\c\\]d\\xe\\";
    size_t n = vg_syslog_sd_unescape((vg_syslog_str_t){v, strlen(v)}, out);
    assert_int_equal(n, strlen("a\"b\\c]d\\xe\\"));
    assert_memory_equal(out, "a\"b\\c]d\\xe\\", n);
    /* in place */
    char inplace[] = "x\\]y";
    n = vg_syslog_sd_unescape((vg_syslog_str_t){inplace, 4}, inplace);
    assert_int_equal(n, 3);
    assert_memory_equal(inplace, "x]y", 3);
}

static void test_severity(void **state)
{
    (void)state;
    const int num[8] = {21, 19, 18, 17, 13, 10, 9, 5};
    const char *txt[8] = {"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"};
    const char *otel[8] = {"FATAL", "ERROR3", "ERROR2", "ERROR", "WARN", "INFO2", "INFO", "DEBUG"};
    for (unsigned s = 0; s < 8; s++) {
        assert_int_equal(vg_syslog_severity_number(s), num[s]);
        assert_string_equal(vg_syslog_severity_text(s), txt[s]);
        assert_string_equal(vg_syslog_otel_severity_name(s), otel[s]);
    }
    assert_int_equal(vg_syslog_severity_number(8), 0);
    assert_null(vg_syslog_severity_text(8));
    assert_string_equal(vg_syslog_facility_text(0), "kern");
    assert_string_equal(vg_syslog_facility_text(4), "auth");
    assert_string_equal(vg_syslog_facility_text(10), "authpriv");
    assert_string_equal(vg_syslog_facility_text(15), "cron2");
    assert_string_equal(vg_syslog_facility_text(23), "local7");
    assert_null(vg_syslog_facility_text(24));
}

/* ---- time zones --------------------------------------------------------- */

/* Our offsets against glibc's localtime_r for many instants 1900..2150. The
 * test is single-threaded, so setenv("TZ") is fine here. */
static void compare_with_libc(const char *name)
{
    vg_syslog_tz_t *tz = zone(name);
    char *old = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
    setenv("TZ", name, 1);
    tzset();
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t t = -2208988800LL + (int64_t)(x % (250ULL * 365 * 86400)); /* 1900 .. 2150 */
        if (i < 400) t = 1700000000 + (int64_t)i * 43200; /* dense around now */
        time_t tt = (time_t)t;
        struct tm tm;
        assert_non_null(localtime_r(&tt, &tm));
        if (vg_syslog_tz_offset(tz, t) != tm.tm_gmtoff)
            fail_msg("%s at %lld: %d, libc %ld", name, (long long)t, vg_syslog_tz_offset(tz, t), tm.tm_gmtoff);
        /* local -> unix round trip (ambiguous hours may pick the other one) */
        int64_t back = vg_syslog_tz_local_to_unix(tz, t + tm.tm_gmtoff);
        if (back != t && vg_syslog_tz_offset(tz, back) + back != t + tm.tm_gmtoff)
            fail_msg("%s round trip at %lld -> %lld", name, (long long)t, (long long)back);
    }
    if (old) setenv("TZ", old, 1), free(old);
    else unsetenv("TZ");
    tzset();
    vg_syslog_tz_free(tz);
}

static void test_tz_vs_libc(void **state)
{
    (void)state;
    const char *zones[] = {"America/New_York", "Europe/Athens", "Australia/Sydney", "Asia/Kolkata",
                           "America/Sao_Paulo", "Pacific/Chatham", "Europe/Dublin", "Africa/Casablanca",
                           "America/St_Johns", "Asia/Tehran", "Australia/Lord_Howe", "UTC", "Etc/GMT+5"};
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) compare_with_libc(zones[i]);
}

static void test_tz_gap_and_overlap(void **state)
{
    (void)state;
    vg_syslog_tz_t *ny = zone("America/New_York");
    /* 2025-03-09 02:30 does not exist in New York: offset before the gap (EST) */
    int64_t local = iso_sec("2025-03-09T02:30:00Z");
    assert_int_equal(vg_syslog_tz_local_to_unix(ny, local), local + 5 * 3600);
    /* 2025-11-02 01:30 happens twice: either answer maps back to 01:30 */
    local = iso_sec("2025-11-02T01:30:00Z");
    int64_t u = vg_syslog_tz_local_to_unix(ny, local);
    assert_true(u == local + 4 * 3600 || u == local + 5 * 3600);
    /* far future follows the footer rule: July 2300 is EDT */
    assert_int_equal(vg_syslog_tz_offset(ny, iso_sec("2300-07-01T00:00:00Z")), -4 * 3600);
    assert_int_equal(vg_syslog_tz_offset(ny, iso_sec("2300-01-01T00:00:00Z")), -5 * 3600);
    /* absurd instants are clamped, not overflowed */
    (void)vg_syslog_tz_offset(ny, INT64_MAX);
    (void)vg_syslog_tz_offset(ny, INT64_MIN);
    vg_syslog_tz_free(ny);
}

static void test_tz_load_errors(void **state)
{
    (void)state;
    vg_syslog_tz_t *tz = (vg_syslog_tz_t *)1;
    assert_int_equal(vg_syslog_tz_load("../../etc/passwd", NULL, &tz), VG_EINVAL);
    assert_null(tz);
    assert_int_equal(vg_syslog_tz_load("/etc/localtime", NULL, &tz), VG_EINVAL);
    assert_int_equal(vg_syslog_tz_load("Bad Zone", NULL, &tz), VG_EINVAL);
    assert_int_equal(vg_syslog_tz_load("Nowhere/Atlantis", NULL, &tz), VG_ENOTFOUND);
    assert_int_equal(vg_syslog_tz_load("America", NULL, &tz), VG_ENOTFOUND);
    assert_int_equal(vg_syslog_tz_load("UTC", "/nonexistent", &tz), 0); /* UTC needs no file */
    assert_int_equal(vg_syslog_tz_offset(tz, 0), 0);
    vg_syslog_tz_free(tz);
    assert_int_equal(vg_syslog_tz_load(NULL, NULL, &tz), 0);
    vg_syslog_tz_free(tz);
    assert_int_equal(vg_syslog_tz_load("Local", NULL, &tz), 0);
    vg_syslog_tz_free(tz);
    assert_int_equal(vg_syslog_tz_load("zone.tab", NULL, &tz), VG_EPARSE); /* a file, not TZif */
    assert_int_equal(vg_syslog_tz_fixed(100000, &tz), VG_EINVAL);
    assert_int_equal(vg_syslog_tz_fixed(19800, &tz), 0);
    assert_int_equal(vg_syslog_tz_offset(tz, 123456), 19800);
    assert_int_equal(vg_syslog_tz_local_to_unix(tz, 19800), 0);
    vg_syslog_tz_free(tz);
    vg_syslog_tz_free(NULL);
    assert_int_equal(vg_syslog_tz_from_tzif("TZif", 4, &tz), VG_EPARSE);
}

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static unsigned char buf[1 << 16];
    *n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    unsigned char *r = malloc(*n);
    memcpy(r, buf, *n);
    return r;
}

/* Every truncation and many byte flips of a real TZif file: parse or
 * VG_EPARSE, never a crash (ASan build). */
static void test_tzif_hostile(void **state)
{
    (void)state;
    size_t n;
    unsigned char *orig = read_all("/usr/share/zoneinfo/America/New_York", &n);
    vg_syslog_tz_t *tz;
    for (size_t cut = 0; cut < n; cut++) {
        unsigned char *b = malloc(cut ? cut : 1);
        memcpy(b, orig, cut);
        int rc = vg_syslog_tz_from_tzif(b, cut, &tz);
        assert_true(rc == 0 || rc == VG_EPARSE);
        if (rc == 0) (void)vg_syslog_tz_offset(tz, 1700000000), vg_syslog_tz_free(tz);
        free(b);
    }
    unsigned char *b = malloc(n);
    for (size_t i = 0; i < n; i++) {
        memcpy(b, orig, n);
        b[i] ^= 0xA5;
        int rc = vg_syslog_tz_from_tzif(b, n, &tz);
        assert_true(rc == 0 || rc == VG_EPARSE);
        if (rc == 0) {
            for (int64_t t = -4000000000LL; t < 8000000000LL; t += 99999937) (void)vg_syslog_tz_offset(tz, t);
            vg_syslog_tz_free(tz);
        }
    }
    /* every allocation failing in turn */
    for (long k = 1; k < 10; k++) {
        vg_mem_fail_after(k);
        int rc = vg_syslog_tz_from_tzif(orig, n, &tz);
        vg_mem_fail_reset();
        assert_true(rc == 0 || rc == VG_ENOMEM);
        if (rc == 0) vg_syslog_tz_free(tz);
        vg_mem_fail_after(k);
        rc = vg_syslog_tz_load("Europe/Athens", NULL, &tz);
        vg_mem_fail_reset();
        assert_true(rc == 0 || rc == VG_ENOMEM);
        if (rc == 0) vg_syslog_tz_free(tz);
    }
    free(b);
    free(orig);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),          cmocka_unit_test(test_flags),
        cmocka_unit_test(test_huge_line),      cmocka_unit_test(test_sd_truncated),
        cmocka_unit_test(test_unescape),       cmocka_unit_test(test_severity),
        cmocka_unit_test(test_tz_vs_libc),     cmocka_unit_test(test_tz_gap_and_overlap),
        cmocka_unit_test(test_tz_load_errors), cmocka_unit_test(test_tzif_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
