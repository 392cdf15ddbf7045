// The official `phoenix` client against our server: connect, heartbeat, join/leave, replies,
// broadcasts, refused joins and Presence. Run by tests/my_app_web/channels/test_js_client.py.
import {test} from "node:test"
import assert from "node:assert/strict"
import {Presence} from "phoenix"
import {USERS, connect, join, newSocket, nextEvent, presentUsers, reply, sleep, waitFor} from "./support.mjs"

const {alice, bob, carol, pia, pete} = USERS

test("connects with a token in the connect params", async t => {
  const socket = await connect(t, alice)
  assert.equal(socket.connectionState(), "open")
  assert.equal(socket.isConnected(), true)
})

test("connects with the authToken option (Sec-WebSocket-Protocol), the server echoing `phoenix`", async t => {
  const socket = await connect(t, bob, {auth: "authToken"})
  assert.equal(socket.conn.protocol, "phoenix")
  assert.equal(socket.endPointURL().includes("token="), false)
  const channel = socket.channel("room:lobby")
  await join(channel)
  assert.deepEqual(await reply(channel.push("ping", {n: 3})), {status: "ok", response: {pong: true, n: 3}})
})

test("a bad token is refused: the socket never opens", async t => {
  const socket = newSocket({name: "nobody", token: "not-a-token"}, {reconnectAfterMs: () => 60_000})
  t.after(() => new Promise(resolve => socket.disconnect(resolve)))
  let opened = false
  socket.onOpen(() => { opened = true })
  const failed = new Promise(resolve => socket.onError(resolve))
  socket.connect()
  await failed
  assert.equal(opened, false)
})

test("heartbeats are answered on topic phoenix and the socket stays open", async t => {
  const socket = await connect(t, alice, {heartbeatIntervalMs: 200})
  const replies = []
  let closes = 0
  socket.onClose(() => { closes++ })
  socket.onMessage(({topic, event, payload}) => {
    if(topic === "phoenix" && event === "phx_reply"){ replies.push(payload) }
  })
  await sleep(1500)
  // One heartbeat every 200 ms, each answered before the next (else the client reconnects).
  assert.ok(replies.length >= 5, `only ${replies.length} heartbeat replies in 1.5 s`)
  assert.ok(replies.every(payload => payload.status === "ok"), JSON.stringify(replies))
  assert.equal(closes, 0)
  assert.equal(socket.isConnected(), true)
  const channel = socket.channel("room:lobby")
  await join(channel)
  assert.equal((await reply(channel.push("ping", {n: 1}))).status, "ok")
  t.diagnostic(`${replies.length} heartbeat replies in 1.5 s at a 200 ms interval`)
})

test("joins and leaves a channel, then joins it again", async t => {
  const socket = await connect(t, alice)
  const channel = socket.channel("room:lobby")
  assert.deepEqual(await join(channel), {})
  assert.equal(channel.state, "joined")
  const left = await reply(channel.leave())
  assert.equal(left.status, "ok")
  assert.equal(channel.state, "closed")
  const again = socket.channel("room:lobby")
  await join(again)
  assert.equal((await reply(again.push("ping", {n: 2}))).status, "ok")
})

test("a push gets its reply", async t => {
  const socket = await connect(t, alice)
  const channel = socket.channel("room:lobby")
  await join(channel)
  assert.deepEqual(await reply(channel.push("ping", {n: 42})), {status: "ok", response: {pong: true, n: 42}})
  assert.deepEqual(await reply(channel.push("new_msg", {body: ""})), {
    status: "error",
    response: {reason: "body can't be blank"},
  })
})

test("a broadcast reaches the other socket, with the sender", async t => {
  const [a, b] = [await connect(t, alice), await connect(t, bob)]
  const [fromA, fromB] = [a.channel("room:lobby"), b.channel("room:lobby")]
  await join(fromA)
  await join(fromB)
  const atB = nextEvent(fromB, "new_msg")
  const atA = nextEvent(fromA, "new_msg")
  assert.equal((await reply(fromA.push("new_msg", {body: "hello from alice"}))).status, "ok")
  const expected = {body: "hello from alice", user: {id: alice.id, name: alice.name}}
  for (const {sent_at, ...message} of [await atB, await atA]) {
    assert.deepEqual(message, expected)
    assert.ok(Math.abs(Date.parse(sent_at) - Date.now()) < 10000, `sent_at ${sent_at} is the server's time`)
  }
})

test("a join of a forbidden room is refused with unauthorized; leaving stops the retries", async t => {
  const socket = await connect(t, carol)
  const secretReplies = []
  socket.onMessage(message => { if(message.topic === "room:secret"){ secretReplies.push(message) } })
  const channel = socket.channel("room:secret")
  assert.deepEqual(await reply(channel.join()), {status: "error", response: {reason: "unauthorized"}})
  channel.leave()
  // The client would retry the join after 1 s (then 2 s, 5 s, 10 s, ...) had it not left.
  await sleep(1500)
  const joinReplies = secretReplies.filter(message => message.ref === message.join_ref)
  const otherReplies = secretReplies.filter(message => message.ref !== message.join_ref)
  assert.equal(joinReplies.length, 1, JSON.stringify(secretReplies))
  // The client sends phx_leave even for a refused join; Phoenix answers it with ok.
  assert.deepEqual(otherReplies.map(message => [message.event, message.payload]), [
    ["phx_reply", {status: "ok", response: {}}],
  ])
  assert.equal(socket.channels.includes(channel), false)

  // A member of the room gets in.
  const member = await connect(t, alice)
  await join(member.channel("room:secret"))
})

test("Presence lists both users on both sockets; a disconnect leaves within 5 s", async t => {
  const [one, two] = [await connect(t, pia), await connect(t, pete)]
  const [channelOne, channelTwo] = [one.channel("room:lobby"), two.channel("room:lobby")]
  const [presenceOne, presenceTwo] = [new Presence(channelOne), new Presence(channelTwo)]
  const left = []
  presenceOne.onLeave((id, current, leftPresence) => { left.push({id, current, leftPresence}) })
  await join(channelOne)
  await join(channelTwo)

  const both = [pia.id, pete.id].sort()
  for(const [name, presence] of [["pia", presenceOne], ["pete", presenceTwo]]){
    const users = await waitFor(() => {
      const listed = presentUsers(presence)
      return Object.keys(listed).join() === both.join() ? listed : null
    }, 5000, `both users in ${name}'s Presence.list() (has ${JSON.stringify(presentUsers(presence))})`)
    for(const [id, metas] of Object.entries(users)){
      assert.equal(metas.length, 1, `${id}: ${JSON.stringify(metas)}`)
      assert.ok(metas[0].phx_ref && metas[0].online_at, JSON.stringify(metas[0]))
      assert.equal(metas[0].name, id === pia.id ? pia.name : pete.name)
    }
  }

  const started = Date.now()
  two.disconnect()
  await waitFor(
    () => Object.keys(presentUsers(presenceOne)).join() === pia.id,
    5000,
    `pete's leave on pia's socket (has ${JSON.stringify(presentUsers(presenceOne))})`,
  )
  const elapsed = Date.now() - started
  assert.deepEqual(left.map(({id, current}) => [id, current.metas.length]), [[pete.id, 0]])
  t.diagnostic(`the leave arrived ${elapsed} ms after the disconnect`)
})
