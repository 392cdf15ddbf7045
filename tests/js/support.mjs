// Helpers for driving our /socket/websocket with the official `phoenix` client on Node.
//
// The Python test (tests/my_app_web/channels/test_js_client.py) starts the server and passes:
//   PHX_SOCKET_URL  ws://127.0.0.1:<port>/socket (the client appends /websocket)
//   PHX_USERS       JSON {name: {id, name, token}} of users committed in the test database
//   PHX_SIGNAL_DIR  a folder for files that coordinate with the Python side (reconnect test)
import {Socket} from "phoenix"
import WebSocket from "ws"

export const SOCKET_URL = required("PHX_SOCKET_URL")
export const USERS = JSON.parse(required("PHX_USERS"))

function required(name){
  const value = process.env[name]
  if(!value){ throw new Error(`${name} is not set: run these tests through pytest (test_js_client.py)`) }
  return value
}

// A socket over `ws` (Node 20 has no global WebSocket; without `transport` the client silently
// falls back to long-polling). Extra options go to the Socket constructor.
export function newSocket(user, opts = {}){
  const {auth = "params", ...rest} = opts
  const credentials = auth === "authToken" ? {authToken: user.token} : {params: {token: user.token}}
  return new Socket(SOCKET_URL, {transport: WebSocket, ...credentials, ...rest})
}

// A connected socket; disconnected when the test ends.
export async function connect(t, user, opts = {}){
  const socket = newSocket(user, opts)
  t.after(() => new Promise(resolve => socket.disconnect(resolve)))
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${user.name}'s socket did not open within 5 s`)), 5000)
    socket.onOpen(() => { clearTimeout(timer); resolve() })
    socket.connect()
  })
  return socket
}

// The reply to a push (a join, a leave, an event): resolves with {status, response}, whatever the status.
export function reply(push, within = 5000){
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no reply to ${push.event} within ${within} ms`)), within)
    push
      .receive("ok", response => { clearTimeout(timer); resolve({status: "ok", response}) })
      .receive("error", response => { clearTimeout(timer); resolve({status: "error", response}) })
      .receive("timeout", () => { clearTimeout(timer); reject(new Error(`${push.event} timed out`)) })
  })
}

// Joins `channel`; fails unless the reply is ok.
export async function join(channel){
  const answer = await reply(channel.join())
  if(answer.status !== "ok"){
    throw new Error(`joining ${channel.topic} failed: ${JSON.stringify(answer.response)}`)
  }
  return answer.response
}

// Polls `condition` until it returns something truthy; fails with `what` after `within` ms.
export async function waitFor(condition, within, what){
  const deadline = Date.now() + within
  for(;;){
    const value = condition()
    if(value){ return value }
    if(Date.now() > deadline){ throw new Error(`timed out after ${within} ms waiting for ${what}`) }
    await sleep(20)
  }
}

// The next message on `channel` with `event` (the listener is removed after it).
export function nextEvent(channel, event, within = 5000){
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      channel.off(event, ref)
      reject(new Error(`no ${event} on ${channel.topic} within ${within} ms`))
    }, within)
    const ref = channel.on(event, payload => {
      clearTimeout(timer)
      channel.off(event, ref)
      resolve(payload)
    })
  })
}

export function sleep(ms){ return new Promise(resolve => setTimeout(resolve, ms)) }

// Presence.list() as {userId: metas}, sorted by key.
export function presentUsers(presence){
  const entries = presence.list((id, {metas}) => [id, metas])
  return Object.fromEntries(entries.sort(([a], [b]) => a.localeCompare(b)))
}
