/*
 * edgepbx build settings for pjproject (copied to pjlib/include/pj/config_site.h).
 *
 * Why each value: a branch box runs up to 64 call legs (a forwarded call holds two),
 * and every leg needs conference ports for its call media, a prompt player, a DSP tap
 * and perhaps a recorder; each leg's RTP and RTCP take two sockets.
 */
#define PJSUA_MAX_CALLS             64
#define PJSUA_MAX_ACC               8
#define PJSUA_MAX_PLAYERS           192
#define PJSUA_MAX_RECORDERS         96
#define PJSUA_MAX_CONF_PORTS        512
#define PJ_IOQUEUE_MAX_HANDLES      512
#define PJSIP_MAX_TSX_COUNT         1023
#define PJSIP_MAX_DIALOG_COUNT      1023
#define PJMEDIA_HAS_VIDEO           0
/* Telephony runs at 8 kHz; keep the default conference bridge small and cheap. */
#define PJMEDIA_CONF_USE_SWITCH_BOARD 0
/* Hostile networks (issue 22): a TCP client that connects and sends no complete SIP message
 * (or half of one) is closed after 10 s instead of holding a socket for ever; a server-side
 * connection nobody uses any more goes after 2 minutes, not 10. */
#define PJSIP_TCP_INITIAL_TIMEOUT   10
#define PJSIP_TRANSPORT_SERVER_IDLE_TIME 120
/* pjlib's known intentional warning. */
#define PJ_TODO(x)
