package twin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/internal/errs"
)

// GatewayUser is the MQTT user name of a gateway: with an operator or admin
// API key as password it may publish for any device.
const GatewayUser = "gateway"

// Broker is the embedded MQTT broker (mochi-mqtt). Devices connect with
// their id as user name and their key as password.
type Broker struct {
	srv  *mqtt.Server
	ln   *listeners.Net
	hook *brokerHook
}

// StartBroker starts the embedded broker on addr; messages are handled with
// ctx (when it ends, unfinished QoS 1 messages are not acknowledged, so
// devices send them again).
func (s *Service) StartBroker(ctx context.Context, addr string) (*Broker, error) {
	srv := mqtt.New(&mqtt.Options{
		InlineClient: true,
		Logger:       slog.New(levelHandler{slog.LevelError, s.Logger.Handler()}).With("component", "mqtt"),
	})
	h := &brokerHook{s: s, srv: srv, ctx: ctx, who: map[*mqtt.Client]*auth.Principal{},
		sessions: map[string]session{}, acks: map[*mqtt.Client]chan pendingAck{}}
	if err := srv.AddHook(h, nil); err != nil {
		return nil, err
	}
	nl, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("MQTT broker cannot listen on %s: %w (set CITYTWIN_MQTT_ADDR or --mqtt-addr to a free address, or \"off\")", addr, err)
	}
	ln := listeners.NewNet("citytwin", corkListener{nl})
	if err := srv.AddListener(ln); err != nil {
		nl.Close()
		return nil, fmt.Errorf("MQTT broker: %w", err)
	}
	if err := srv.Serve(); err != nil {
		return nil, fmt.Errorf("MQTT broker: %w", err)
	}
	b := &Broker{srv: srv, ln: ln, hook: h}
	s.mqtt = b
	s.publish = func(_ context.Context, topic string, payload []byte) error {
		return srv.Publish(topic, payload, false, 1)
	}
	return b, nil
}

// Addr is the address the broker listens on (the real port when started
// on port 0).
func (b *Broker) Addr() string { return b.ln.Address() }

// Close stops the broker and waits for its ack goroutines.
func (b *Broker) Close() error {
	err := b.srv.Close()
	b.hook.wg.Wait() // they end at each client's disconnect, or with the service's ctx
	return err
}

// MQTTAddr is the embedded broker's address, or "" when none runs.
func (s *Service) MQTTAddr() string {
	if s.mqtt == nil {
		return ""
	}
	return s.mqtt.Addr()
}

type brokerHook struct {
	mqtt.HookBase
	s   *Service
	srv *mqtt.Server
	ctx context.Context
	mu  sync.Mutex
	who map[*mqtt.Client]*auth.Principal // connected clients
	// sessions are who owns each session the broker keeps, by client id,
	// connected or not (a persistent session outlives its connection).
	sessions map[string]session
	acks     map[*mqtt.Client]chan pendingAck
	wg       sync.WaitGroup // ack goroutines
}

// session is the client that holds a session and the principal it
// authenticated as.
type session struct {
	cl *mqtt.Client
	p  *auth.Principal
}

func (h *brokerHook) ID() string { return "citytwin-auth-ingest" }

func (h *brokerHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnPublish, mqtt.OnDisconnect, mqtt.OnClientExpired}, []byte{b})
}

func (h *brokerHook) principal(cl *mqtt.Client) *auth.Principal {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.who[cl]
}

// OnConnectAuthenticate accepts a device (user = its id, password = its
// key) or a gateway (user "gateway", password an operator or admin key).
// A connection that would resume (clean session off) a session another
// user holds under the same client id is refused: it would receive what
// was queued for that session (another device's commands).
func (h *brokerHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	user, pass := string(pk.Connect.Username), string(pk.Connect.Password)
	ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
	defer cancel()
	p, err := h.s.Auth.Authenticate(ctx, pass)
	if err != nil {
		h.s.Logger.Info("mqtt: connection refused", "user", user, "remote", cl.Net.Remote, "err", err)
		return false
	}
	ok := (user == GatewayUser && p.Role != auth.Device && p.Can(auth.Operator)) || (p.Role == auth.Device && p.DeviceID == user)
	if !ok {
		h.s.Logger.Info("mqtt: connection refused: key does not match the user name", "user", user, "remote", cl.Net.Remote)
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	// mochi's inheritClientSession resumes the session of cl.ID unless the
	// new connection or an MQTT 3 holder asked for a clean session.
	if old, ok := h.srv.Clients.Get(cl.ID); ok && !pk.Connect.Clean && !(old.Properties.Clean && old.Properties.ProtocolVersion < 5) {
		if held, ok := h.sessions[cl.ID]; !ok || owner(held.p) != owner(p) {
			h.s.Logger.Info("mqtt: connection refused: the client id holds another user's session (connect with a clean session or another client id)",
				"user", user, "client", cl.ID, "remote", cl.Net.Remote)
			return false
		}
	}
	h.who[cl] = p
	h.sessions[cl.ID] = session{cl: cl, p: p}
	return true
}

// owner is who a session belongs to: one device, or the gateways (all
// with the same rights).
func owner(p *auth.Principal) string {
	if p.Role == auth.Device {
		return "device " + p.DeviceID
	}
	return GatewayUser
}

// OnDisconnect forgets the client; its ack goroutine sends what is pending
// and ends. (The client's read loop, the only sender to its channel, has
// ended when this runs.)
func (h *brokerHook) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	h.mu.Lock()
	delete(h.who, cl)
	if ch, ok := h.acks[cl]; ok {
		close(ch)
		delete(h.acks, cl)
	}
	if s, ok := h.sessions[cl.ID]; expire && ok && s.cl == cl {
		delete(h.sessions, cl.ID) // a clean session ends with its connection
	}
	h.mu.Unlock()
}

// OnClientExpired forgets a persistent session the broker dropped.
func (h *brokerHook) OnClientExpired(cl *mqtt.Client) {
	h.mu.Lock()
	if s, ok := h.sessions[cl.ID]; ok && s.cl == cl {
		delete(h.sessions, cl.ID)
	}
	h.mu.Unlock()
}

// OnACLCheck lets a device publish only under its own topics and subscribe
// only to its own commands; a gateway publishes for any device and may
// subscribe to any device's commands.
//
// mochi also checks each delivery (read) to a subscriber, including one
// to a persistent session whose connection has ended: the message (a QoS 1
// command) is queued and sent when the session is resumed. Such a session
// reads what its owner may read: it authenticated when it subscribed, and
// only a connection that authenticates as the same owner may resume it
// (OnConnectAuthenticate).
func (h *brokerHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	p := h.principal(cl)
	if p == nil {
		if write {
			return false
		}
		// The session's owner: cl's principal, or, while a new connection
		// takes the session over, that connection's (the same owner, or a
		// clean start that drops what cl holds).
		h.mu.Lock()
		s, ok := h.sessions[cl.ID]
		h.mu.Unlock()
		if !ok {
			return false
		}
		p = s.p
	}
	if p.Role != auth.Device {
		if !write {
			return topic == TopicPrefix+"+/commands" || strings.HasSuffix(topic, "/commands") && validTopic(topic, "commands")
		}
		_, rest, ok := ParseTopic(topic)
		return ok && rest != "commands"
	}
	id, rest, ok := ParseTopic(topic)
	if !ok || id != p.DeviceID {
		return false
	}
	if write {
		return rest != "commands"
	}
	return rest == "commands"
}

func validTopic(topic, want string) bool {
	_, rest, ok := ParseTopic(topic)
	return ok && rest == want
}

// OnPublish stores telemetry and heartbeats before they are acknowledged.
// QoS 1 telemetry and heartbeats are checked here, queued to the batch
// writers, and acknowledged by the client's ack goroutine once their batch
// has committed, in the order they came (so one connection, e.g. a gateway,
// may have many messages in flight and they share batches). Command acks are
// handled inline.
func (h *brokerHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	p := h.principal(cl)
	if _, rest, ok := ParseTopic(pk.TopicName); ok && (rest == "telemetry" || rest == "heartbeat") && pk.FixedHeader.Qos <= 1 {
		msg := h.s.submitMessage(h.ctx, p, pk.TopicName, pk.Payload)
		if pk.FixedHeader.Qos == 0 {
			return pk, packets.ErrRejectPacket // stored in the background, nobody to tell
		}
		if !h.queueAck(cl, pk, msg) {
			return pk, packets.ErrRejectPacket
		}
		return pk, packets.ErrRejectPacket // the ack goroutine sends the PUBACK
	}
	err := h.s.HandleMessage(h.ctx, p, pk.TopicName, pk.Payload)
	if err == nil {
		return pk, nil
	}
	if errors.Is(err, errRetryLater) || h.ctx.Err() != nil {
		return pk, packets.ErrRejectPacket // no PUBACK: the device sends it again
	}
	h.logRefusal(cl, pk, err)
	if cl.Properties.ProtocolVersion == 5 && pk.FixedHeader.Qos > 0 {
		// The refusal's PUBACK (PUBREC for QoS 2) is sent here: given a
		// reason code instead, mochi would send it but log the whole packet
		// at error level, for every refused message any device sends.
		ack := refusal(pk, err)
		if pk.FixedHeader.Qos == 2 {
			ack.FixedHeader.Type = packets.Pubrec // a failure code ends the QoS 2 flow
		}
		if werr := cl.WritePacket(ack); werr != nil {
			h.s.Logger.Debug("mqtt: cannot send PUBACK", "client", cl.ID, "err", werr)
		}
		return pk, packets.ErrRejectPacket
	}
	return pk, packets.CodeSuccessIgnore // MQTT 3.1.1 (or QoS 0): acknowledged as usual, not forwarded
}

// refusal is the MQTT 5 PUBACK of a message refused with err: a reason code
// and, as reason string, what was wrong with it (not the server's own
// failures).
func refusal(pk packets.Packet, err error) packets.Packet {
	code := packets.ErrUnspecifiedError
	reason := code.Reason
	switch errs.Code(err) {
	case errs.EINVALID: // malformed, unknown metric, out of range, …
		code = packets.ErrPayloadFormatInvalid
	case errs.ETOOMANY: // rate limited
		code = packets.ErrQuotaExceeded
	case errs.EFORBIDDEN:
		code = packets.ErrNotAuthorized
	case errs.EUNPROCESSABLE, errs.ENOTFOUND: // well formed, not accepted (an ack of no open command)
		code = packets.ErrImplementationSpecificError
	}
	if code != packets.ErrUnspecifiedError {
		reason = shorten(err.Error(), 200)
	}
	return packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID,
		ReasonCode: code.Code, Properties: packets.Properties{ReasonString: reason}}
}

// logRefusal logs a refused message in one short line: at debug level, as
// any device may send any number of them; at warn level when the server
// failed (an ack it could not record).
func (h *brokerHook) logRefusal(cl *mqtt.Client, pk packets.Packet, err error) {
	id, rest, _ := ParseTopic(pk.TopicName)
	level, msg := slog.LevelDebug, "mqtt: message refused"
	if c := errs.Code(err); c == errs.EINTERNAL || c == errs.EUNAVAILABLE {
		level, msg = slog.LevelWarn, "mqtt: message not handled"
	}
	h.s.Logger.Log(h.ctx, level, msg, "device", id, "topic", rest, "client", cl.ID, "reason", shorten(err.Error(), 200))
}

// shorten makes s valid UTF-8 and cuts it after at most n bytes, marking
// the cut with "…".
func shorten(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

type pendingAck struct {
	pk  packets.Packet
	msg queuedMsg
}

// queueAck hands a QoS 1 message to cl's ack goroutine, starting it if
// needed. It blocks when the client has maxPendingAcks messages in flight.
func (h *brokerHook) queueAck(cl *mqtt.Client, pk packets.Packet, msg queuedMsg) bool {
	h.mu.Lock()
	ch, ok := h.acks[cl]
	if !ok {
		ch = make(chan pendingAck, maxPendingAcks)
		h.acks[cl] = ch
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			h.ackLoop(cl, ch)
		}()
	}
	h.mu.Unlock()
	select {
	case ch <- pendingAck{pk: pk, msg: msg}:
		return true
	case <-h.ctx.Done():
		return false
	}
}

// maxPendingAcks bounds the QoS 1 messages of one client waiting for their
// batch: enough for a gateway publishing for many devices to keep a few
// batches' worth in flight while a commit is slow.
const maxPendingAcks = 4096

// ackLoop sends the PUBACKs of cl's messages in order, each once its batch
// has committed (or its content was refused). A message that could not be
// stored (the server is stopping) gets no PUBACK, so the client resends it.
// The PUBACKs of messages that are already durable when their turn comes
// (the rest of a committed batch) go out in one write (corkConn).
// It ends when the client disconnects or the service stops.
func (h *brokerHook) ackLoop(cl *mqtt.Client, ch chan pendingAck) {
	cc, _ := cl.Net.Conn.(*corkConn)
	var next *pendingAck // received, not yet durable
	for {
		var pa pendingAck
		if next != nil {
			pa, next = *next, nil
		} else {
			var ok bool
			select {
			case pa, ok = <-ch:
			case <-h.ctx.Done():
				return
			}
			if !ok {
				return
			}
		}
		err := h.s.waitMsg(h.ctx, pa.msg)
		if cc == nil {
			h.ack(cl, pa, err)
			continue
		}
		cc.cork()
		h.ack(cl, pa, err)
		closed := false
	ready:
		for range maxPendingAcks {
			select {
			case more, ok := <-ch:
				if !ok {
					closed = true
					break ready
				}
				if !more.msg.ready() {
					next = &more
					break ready
				}
				h.ack(cl, more, h.s.waitMsg(h.ctx, more.msg))
			default:
				break ready
			}
		}
		if werr := cc.uncork(); werr != nil {
			h.s.Logger.Debug("mqtt: cannot send PUBACKs", "client", cl.ID, "err", werr)
		}
		if closed {
			return
		}
	}
}

// ack sends the PUBACK of pa, whose wait returned err.
func (h *brokerHook) ack(cl *mqtt.Client, pa pendingAck, err error) {
	if errors.Is(err, errRetryLater) {
		return
	}
	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pa.pk.PacketID}
	if err != nil {
		h.logRefusal(cl, pa.pk, err)
		if cl.Properties.ProtocolVersion == 5 {
			ack = refusal(pa.pk, err)
		}
	}
	if werr := cl.WritePacket(ack); werr != nil {
		h.s.Logger.Debug("mqtt: cannot send PUBACK", "client", cl.ID, "err", werr)
	}
}

var errRetryLater = errors.New("twin: not stored, retry later")

// HandleMessage handles one MQTT message on a device topic for principal p
// (nil when the broker authenticated the sender, as an external broker
// does). It returns when the data is durable. Refused content is an
// *errs.Error; errRetryLater means nothing was stored.
func (s *Service) HandleMessage(ctx context.Context, p *auth.Principal, topic string, payload []byte) error {
	id, rest, ok := ParseTopic(topic)
	if !ok {
		return errs.Invalid("topic", "not a device topic: %q", topic)
	}
	switch rest {
	case "telemetry", "heartbeat":
		return s.waitMsg(ctx, s.submitMessage(ctx, p, topic, payload))
	case "commands/ack":
		if p != nil && p.Role == auth.Device && p.DeviceID != id {
			return errs.Errorf(errs.EFORBIDDEN, "device %q may not publish for %q", p.DeviceID, id)
		}
		ack, err := ParseCommandAck(payload)
		if err != nil {
			return err
		}
		return s.HandleAck(ctx, id, ack)
	}
	return nil // commands: the server's own
}

// submitMessage checks a telemetry or heartbeat message and queues it
// (waitMsg waits until it is durable). A telemetry message is one unit:
// when any of its values is refused, none is stored.
func (s *Service) submitMessage(ctx context.Context, p *auth.Principal, topic string, payload []byte) queuedMsg {
	fail := func(err error) queuedMsg { return queuedMsg{err: err} }
	id, rest, ok := ParseTopic(topic)
	if !ok {
		return fail(errs.Invalid("topic", "not a device topic: %q", topic))
	}
	if p == nil {
		p = &auth.Principal{Role: auth.Device, DeviceID: id, Name: "mqtt"}
	}
	if p.Role == auth.Device && p.DeviceID != id {
		return fail(errs.Errorf(errs.EFORBIDDEN, "device %q may not publish for %q", p.DeviceID, id))
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	var rows []Observation
	seen := map[string]time.Time{id: now}
	switch rest {
	case "telemetry":
		tm, err := ParseTelemetry(payload, now)
		if err != nil {
			s.countReject(&Rejection{Reason: RejectMalformed})
			return fail(err)
		}
		obs := make([]parsed, 0, len(tm.Values))
		i := 0
		for m, raw := range tm.Values {
			o := parsed{Observation: Observation{Device: id, Time: tm.Time, Metric: m}}
			if v, ok := number(raw); ok {
				o.Value = v
			} else {
				o.reject = &Rejection{Index: i, Device: id, Metric: m, Reason: RejectNotNumber}
			}
			obs = append(obs, o)
			i++
		}
		var res IngestResult
		res, rows, seen = s.prepare(ctx, p, obs)
		if len(res.Rejected) > 0 {
			return fail(valuesRefused(res.Rejected, len(obs)))
		}
	case "heartbeat":
		if _, err := ParseHeartbeat(payload, now); err != nil {
			return fail(err)
		}
		s.fetchUnknown(ctx, map[string]bool{id: true})
		if s.lookup(id) == nil {
			return fail(errs.Invalid("topic", "unknown device %q", id))
		}
	default:
		return fail(errs.Invalid("topic", "not telemetry or a heartbeat: %q", topic))
	}
	req, err := s.submit(ctx, rows, seen)
	if err != nil {
		return fail(errRetryLater)
	}
	return queuedMsg{req: req}
}

// valuesRefused is the error of a telemetry message n of whose values were
// refused (rej): ETOOMANY when all were rate limited (sending it again
// later may succeed), else EINVALID.
func valuesRefused(rej []Rejection, n int) error {
	code := errs.ETOOMANY
	for _, r := range rej {
		if r.Reason != RejectRateLimited {
			code = errs.EINVALID
			break
		}
	}
	return &errs.Error{Code: code, Where: "values", Message: fmt.Sprintf("%d of %d values refused (%s: %s), none stored",
		len(rej), n, rej[0].Metric, rej[0].Reason)}
}

// queuedMsg is a telemetry or heartbeat message handed to the batch writers
// (req), or refused before that (err, with req nil).
type queuedMsg struct {
	req *writeReq
	err error
}

// ready reports whether waitMsg would return without waiting.
func (m queuedMsg) ready() bool { return m.req == nil || len(m.req.done) > 0 }

// waitMsg waits until m is durable; errRetryLater means it was not stored.
func (s *Service) waitMsg(ctx context.Context, m queuedMsg) error {
	if m.req == nil {
		return m.err
	}
	if _, err := s.wait(ctx, m.req); err != nil {
		return errRetryLater
	}
	return m.err
}

// levelHandler drops records below min (mochi logs every connection at
// info level and every refused client at warn level).
type levelHandler struct {
	min slog.Level
	slog.Handler
}

func (h levelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return levelHandler{h.min, h.Handler.WithAttrs(a)}
}

func (h levelHandler) WithGroup(n string) slog.Handler {
	return levelHandler{h.min, h.Handler.WithGroup(n)}
}
