// `node --import keepalive-agent/register app.mjs`: the same as register.js, for ES modules.
import './register.js'
