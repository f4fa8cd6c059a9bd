import {parentPort, workerData} from 'node:worker_threads'
import {DataPlane, type DataPlaneSetup, type FromWorker, type ToWorker} from './data-plane.js'

// A data-plane worker thread: the main thread sends tunnel changes, the worker moves the packets.
const port = parentPort!
const plane = new DataPlane(workerData as DataPlaneSetup, (message: FromWorker) => port.postMessage(message))
port.on('message', (message: ToWorker) => {
  plane.handle(message)
  if (message.type === 'stop') port.close()
})
plane.start()
