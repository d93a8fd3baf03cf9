%% bench/erlang/tr_bench_dist.erl - the Erlang/OTP twin of
%% bench/tr_bench_net.c: two Erlang nodes on loopback, Erlang distribution
%% at its defaults.
%%
%%   erl -noshell -sname NAME -setcookie C -pa DIR -s tr_bench_dist main BENCH
%%
%% Starts a second node with peer:start_link/1 (a separate OS process),
%% does the same work as the C benchmark of the same name and prints
%% "VALUE <number> <unit>", then halts 0 (1 on a wrong result).
-module(tr_bench_dist).
-export([main/1, sink/1, echo/0]).

-define(TP_N, 1000000).
-define(TP_ACK, 1000).
-define(TP_WINDOW, 8).
-define(PP_N, 200000).

main([Name]) ->
    try
        run(Name),
        halt(0)
    catch C:R:S ->
        io:format(standard_error, "tr_bench_dist.erl: ~p:~p ~p~n", [C, R, S]),
        halt(1)
    end.

now_s() -> erlang:monotonic_time(nanosecond) / 1.0e9.

peer_node() ->
    Dir = filename:dirname(code:which(?MODULE)),
    {ok, Peer, Node} = peer:start_link(#{name => peer:random_name(),
                                         args => ["-pa", Dir, "-setcookie",
                                                  atom_to_list(erlang:get_cookie())]}),
    pong = net_adm:ping(Node),
    {Peer, Node}.

%% remote_throughput: 1,000,000 64-byte messages (a 59-byte binary in a
%% tuple, as the C side sends ["m", bin 59]), acked every 1,000, at most
%% 8,000 in flight.
run(remote_throughput) ->
    {Peer, Node} = peer_node(),
    Self = self(),
    Sink = spawn(Node, ?MODULE, sink, [Self]),
    Body = binary:copy(<<16#ab>>, 59),
    T0 = now_s(),
    sender(Sink, Body, 0, 0),
    value(?TP_N / (now_s() - T0), "msg/s"),
    peer:stop(Peer);

%% remote_pingpong: 200,000 round trips.
run(remote_pingpong) ->
    {Peer, Node} = peer_node(),
    Echo = spawn(Node, ?MODULE, echo, []),
    T0 = now_s(),
    pingpong(Echo, ?PP_N),
    value(?PP_N / (now_s() - T0), "rt/s"),
    peer:stop(Peer);

%% detect_nodedown: kill -9 of the other node's OS process until
%% {nodedown, Node} (net_ticktime and everything else at defaults).
run(detect_nodedown) ->
    {Peer, Node} = peer_node(),
    unlink(Peer),
    OsPid = erpc:call(Node, os, getpid, []),
    monitor_node(Node, true),
    T0 = now_s(),
    os:cmd("kill -9 " ++ OsPid),
    receive {nodedown, Node} -> ok end,
    value(now_s() - T0, "s");

run(Other) ->
    erlang:error({unknown_benchmark, Other}).

sender(Sink, Body, Sent0, Acked) ->
    Sent = case Sent0 of
               0 -> send_n(Sink, Body, ?TP_WINDOW * ?TP_ACK), ?TP_WINDOW * ?TP_ACK;
               _ -> Sent0
           end,
    case Acked of
        N when N =:= ?TP_N div ?TP_ACK -> ok;
        _ ->
            receive ack -> ok end,
            More = min(?TP_ACK, ?TP_N - Sent),
            send_n(Sink, Body, More),
            sender(Sink, Body, Sent + More, Acked + 1)
    end.

send_n(_, _, 0) -> ok;
send_n(To, Body, N) -> To ! {m, Body}, send_n(To, Body, N - 1).

sink(To) -> sink(To, 0).
sink(To, N) ->
    receive {m, _} ->
        N1 = N + 1,
        case N1 rem ?TP_ACK of 0 -> To ! ack; _ -> ok end,
        sink(To, N1)
    end.

echo() ->
    receive {ping, From} -> From ! pong, echo() end.

pingpong(_, 0) -> ok;
pingpong(Echo, N) ->
    Echo ! {ping, self()},
    receive pong -> pingpong(Echo, N - 1) end.

value(V, Unit) when is_float(V) -> io:format("VALUE ~.6f ~s~n", [V, Unit]);
value(V, Unit) -> io:format("VALUE ~p ~s~n", [V, Unit]).
