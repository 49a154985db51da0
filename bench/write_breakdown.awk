# Splits single writes (1 in flight) into their steps, from the trace events
# of all three nodes, one per line, sorted by time:
#   time_ns node kind index peer latency_us detail...
# For each write: the leader's append -> the committing follower receives it
# -> its log actor starts the sync -> the sync ends -> it sends the ack -> the
# leader has it -> commit -> the reply leaves -> the next append (the client's
# round trip and the way from request to proposal). Prints the number of
# writes and the median of each step in microseconds.
function med(x, m,   i, j, t) {
  for (i = 2; i <= m; i++)
    for (j = i; j > 1 && x[j - 1] > x[j]; j--) { t = x[j]; x[j] = x[j - 1]; x[j - 1] = t }
  return m ? x[int((m + 1) / 2)] : 0
}
{ t = $1 / 1000; node = $2; kind = $3; index_ = $4 + 0; peer = $5; lat = $6; detail = $7 }
kind == "append" && detail ~ /^to=/ && $0 ~ /entries=[1-9]/ {
  if (reply) { gap[++ng] = t - reply; reply = 0 }
  ta = t; idx = index_; leader = node; tk = tc = 0
  delete rcv; delete syncend; delete sync; delete sent
  next
}
!ta { next }
kind == "append" && detail == "received" && node != leader && index_ >= idx && !(node in rcv) { rcv[node] = t; next }
kind == "persist" && node != leader && (node in rcv) && index_ >= idx && !(node in syncend) { syncend[node] = t; sync[node] = lat; next }
kind == "ack" && detail == "sent" && node != leader && (node in syncend) && index_ >= idx && !(node in sent) { sent[node] = t; next }
kind == "ack" && detail != "sent" && node == leader && index_ >= idx && !tk { tk = t; f = peer; next }
kind == "commit" && node == leader && tk && !tc && index_ >= idx { tc = t; next }
kind == "client" && node == leader && tc {
  if ((f in rcv) && (f in syncend) && (f in sent)) {
    n++
    deliver[n] = rcv[f] - ta
    tolog[n] = syncend[f] - sync[f] - rcv[f]
    synced[n] = sync[f]
    toack[n] = sent[f] - syncend[f]
    back[n] = tk - sent[f]
    commit[n] = tc - tk
    answer[n] = t - tc
    total[n] = t - ta
  }
  reply = t; ta = 0
}
END {
  printf "%d %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f\n", n, med(deliver, n), med(tolog, n),
    med(synced, n), med(toack, n), med(back, n), med(commit, n), med(answer, n), med(gap, ng), med(total, n)
}
