// Reads Kafka records (JSON lines on stdin: {"key", "value", "headers": {name: value}}, all
// strings, as a Node Kafka client hands them over once decoded) with the CloudEvents SDK's Kafka
// binding, and prints each event's attributes as JSON lines (or {"error": ...}).
import { createInterface } from "node:readline";
import { Kafka } from "cloudevents";

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const record = JSON.parse(line);
  try {
    if (!Kafka.isEvent(record)) throw new Error("not a CloudEvent");
    const event = Kafka.toEvent(record);
    event.validate();
    console.log(JSON.stringify({ ...event.toJSON(), mode: record.headers["content-type"] }));
  } catch (error) {
    console.log(JSON.stringify({ error: String(error && error.message ? error.message : error) }));
  }
}
