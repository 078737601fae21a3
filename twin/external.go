package twin

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// ExternalClient subscribes to the device topics of an external broker
// (Mosquitto, EMQX) instead of running the embedded one. The broker
// authenticates devices and enforces topic ACLs (see twin/README.md); messages
// are acknowledged to the broker only once stored.
type ExternalClient struct {
	client paho.Client
	host   string
}

// Connected reports whether the client is connected to the broker now.
func (e *ExternalClient) Connected() bool { return e.client.IsConnectionOpen() }

// Host is the broker's host:port (the URL without credentials).
func (e *ExternalClient) Host() string { return e.host }

// ConnectExternal connects to the broker at rawURL (tcp://user:pass@host:port)
// and subscribes to every device's telemetry, heartbeats and command acks.
func (s *Service) ConnectExternal(ctx context.Context, rawURL string) (*ExternalClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("MQTT URL %q: want tcp://[user:password@]host:port (CITYTWIN_MQTT_URL)", rawURL)
	}
	host, _ := os.Hostname()
	opts := paho.NewClientOptions().
		AddBroker((&url.URL{Scheme: u.Scheme, Host: u.Host}).String()).
		SetClientID("citytwin-ingest-" + host).
		SetCleanSession(false).
		SetOrderMatters(false).
		SetAutoAckDisabled(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(5 * time.Second)
	if u.User != nil {
		opts.SetUsername(u.User.Username())
		if p, ok := u.User.Password(); ok {
			opts.SetPassword(p)
		}
	}
	handle := func(_ paho.Client, m paho.Message) {
		err := s.HandleMessage(ctx, nil, m.Topic(), m.Payload())
		if errors.Is(err, errRetryLater) {
			return // not acknowledged: the broker delivers it again
		}
		if err != nil {
			s.Logger.Debug("mqtt: message refused", "topic", m.Topic(), "err", err)
		}
		m.Ack()
	}
	filters := map[string]byte{
		TopicPrefix + "+/telemetry":    1,
		TopicPrefix + "+/heartbeat":    1,
		TopicPrefix + "+/commands/ack": 1,
	}
	opts.SetOnConnectHandler(func(c paho.Client) {
		if t := c.SubscribeMultiple(filters, handle); t.WaitTimeout(10*time.Second) && t.Error() != nil {
			s.Logger.Error("mqtt: subscribe on external broker", "err", t.Error())
		}
	})
	c := paho.NewClient(opts)
	t := c.Connect()
	if !t.WaitTimeout(15 * time.Second) {
		c.Disconnect(0)
		return nil, fmt.Errorf("MQTT broker %s: no connection within 15 s (CITYTWIN_MQTT_URL)", u.Host)
	}
	if err := t.Error(); err != nil {
		c.Disconnect(0)
		return nil, fmt.Errorf("MQTT broker %s: %w (CITYTWIN_MQTT_URL)", u.Host, err)
	}
	e := &ExternalClient{client: c, host: u.Host}
	s.ext = e
	s.publish = func(ctx context.Context, topic string, payload []byte) error {
		t := c.Publish(topic, 1, false, payload)
		if !t.WaitTimeout(5 * time.Second) {
			return fmt.Errorf("publish %s: no answer from the broker", topic)
		}
		return t.Error()
	}
	return e, nil
}

// Close disconnects from the broker.
func (e *ExternalClient) Close() error {
	e.client.Disconnect(250)
	return nil
}
